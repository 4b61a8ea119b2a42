"""placeholder, replaced by the workstream branch (sender)"""
def handler(event, context):
    raise NotImplementedError
