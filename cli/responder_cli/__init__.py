"""Responder's command line and local runtime; never shipped in a Lambda bundle."""

import os

# The local stack runs Classify (numpy, for the sentiment encoder) in threads and starts processes (DynamoDB Local,
# Chromium) from the same process. With a pool of OpenBLAS threads, a fork waits in OpenBLAS's fork handler for that
# pool to stop (blas_thread_shutdown_), and it can wait forever: a test run hung there. One thread has no pool, and
# is what Classify runs with deployed (responder.classification.encoder). Read when OpenBLAS loads, so it is set here,
# before anything of the CLI can import numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
