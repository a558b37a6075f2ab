"""What the kernel knows about a TCP socket that asyncio does not say (Linux; harmless elsewhere)."""

from __future__ import annotations

import fcntl
import os
import select
import socket
import sys
import termios

TCP_CLOSE = 7  # tcpi_state after a reset (a clean end of file leaves CLOSE_WAIT)


def unread(fd: int) -> bool:
    """Did the peer leave bytes we sent unread? Request bytes not acknowledged (SIOCOUTQ), or the peer
    answered them with a reset (state CLOSE). Linux; False when unknown."""
    if fd < 0:
        return False
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
            waiting = int.from_bytes(fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"), sys.byteorder)
    except (OSError, AttributeError):
        return False
    return state == TCP_CLOSE or waiting > 0


def readable(fd: int) -> bool:
    """Is there something to read now (data, or an end of file), without reading it?"""
    ready, _, _ = select.select([fd], [], [], 0)
    return bool(ready)
