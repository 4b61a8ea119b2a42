"""The other half of the loop: review links and pages, approved replies sent through the platforms, answers."""
