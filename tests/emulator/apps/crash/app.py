"""A test agent that dies during start-up."""

import sys

print("loading model...", flush=True)
sys.stderr.write("RuntimeError: missing API key\n")
sys.exit(3)
