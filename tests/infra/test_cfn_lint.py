"""cfn-lint over the synthesised template."""

from __future__ import annotations

import json

from cfnlint.api import lint_all

# W3005 (redundant DependsOn): lambda.Function adds an explicit DependsOn on its role and the role's
# default policy so the policy exists before the function is created; the GetAtt only covers the role.
IGNORED_WARNINGS = {"W3005"}


def test_template_has_no_cfn_lint_errors_or_unexpected_warnings(template_dict):
    # Given the synthesised template
    # When cfn-lint runs every rule over it
    matches = lint_all(json.dumps(template_dict))
    findings = [(m.rule.id, m.rule.severity, m.message) for m in matches]
    # Then there is no error, and no warning beyond the documented ones
    errors = [f for f in findings if f[1] == "error"]
    warnings = [f for f in findings if f[1] == "warning" and f[0] not in IGNORED_WARNINGS]
    assert errors == []
    assert warnings == []
