"""CDK application for Responder: one stack composed of one construct per capability."""
