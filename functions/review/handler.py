"""placeholder, replaced by the workstream branch"""
def handler(event, context):
    raise NotImplementedError
