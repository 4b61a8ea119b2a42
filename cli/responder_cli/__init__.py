"""Responder's command line and local runtime; never shipped in a Lambda bundle."""
