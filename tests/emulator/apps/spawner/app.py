"""A test agent that starts a child process and listens on $PORT without speaking HTTP."""

import os
import socket
import subprocess

child = subprocess.Popen(["sleep", "300"])
print(f"child pid {child.pid}", flush=True)
server = socket.create_server((os.environ["HOST"], int(os.environ["PORT"])))
while True:
    conn, _ = server.accept()
    conn.close()
