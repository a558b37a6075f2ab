"""A test agent that boots but never listens (so it never becomes healthy)."""

import time

print("booting, but I will never listen on $PORT", flush=True)
while True:
    time.sleep(1)
