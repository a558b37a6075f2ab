"""Immutable code trees of the emulator, under ``$AGENTCTL_HOME/emulator/code/``.

Layout::

    code/staging/<uuid>.zip           a received zip, kept until its tree is committed
    code/<runtimeId>/latest-<rev>/    LATEST's code at code revision <rev>
    code/<runtimeId>/v<N>/            published version N (hard links into the LATEST tree it froze)

A tree is written under a temporary name and renamed into place, so a path the
store refers to is always complete. The store row is committed only after its
tree exists; a crash in between leaves an orphan tree that ``collect_garbage``
removes at the next start-up. Nothing writes into a committed tree.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import uuid
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

STAGING = "staging"


class BadZip(ValueError):
    """The uploaded code is not a usable zip archive."""


def zip_digest(zip_bytes: bytes) -> str:
    """A digest of the archive's content (names, sizes, CRCs), blind to timestamps.

    Two zips of the same files made at different times get the same digest, so
    "nothing changed since the last version" is judged on content.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            entries = sorted(
                (info.filename, info.file_size, info.CRC) for info in archive.infolist() if not info.is_dir()
            )
    except (zipfile.BadZipFile, ValueError) as exc:
        raise BadZip(f"codeConfiguration.zipFile is not a zip archive ({exc})") from exc
    digest = hashlib.sha256()
    for name, size, crc in entries:
        digest.update(f"{name}\0{size}\0{crc}\n".encode())
    return digest.hexdigest()


class CodeStore:
    """Writes, freezes and garbage-collects the unpacked code trees."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / STAGING).mkdir(parents=True, exist_ok=True)

    def stage(self, zip_bytes: bytes) -> Path:
        """Keep an uploaded zip on disk (durably) until its tree is unpacked and committed."""
        final = self.root / STAGING / f"{uuid.uuid4().hex}.zip"
        tmp = final.with_suffix(".tmp")
        try:
            with open(tmp, "wb") as out:
                out.write(zip_bytes)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, final)
        except BaseException:  # a full disk: no half-written zip stays behind
            tmp.unlink(missing_ok=True)
            raise
        return final

    def unpack(self, staged: Path, runtime_id: str, revision: int) -> Path:
        """Unpack a staged zip into LATEST's tree for ``revision``; returns its absolute path."""
        from agentctl.build.package import unpack

        return self._publish_tree(runtime_id, f"latest-{revision}", lambda tmp: unpack(staged.read_bytes(), tmp))

    def freeze(self, tree: Path, runtime_id: str, version: int) -> Path:
        """Give version ``version`` its own tree: hard links to ``tree``'s files (copies across devices)."""

        def link(tmp: Path) -> None:
            shutil.copytree(tree, tmp, copy_function=_link_or_copy, dirs_exist_ok=True)

        return self._publish_tree(runtime_id, f"v{version}", link)

    def _publish_tree(self, runtime_id: str, label: str, fill: Callable[[Path], object]) -> Path:
        final = self.root / runtime_id / label
        tmp = self.root / runtime_id / f".tmp-{label}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        try:
            fill(tmp)
            if final.exists():  # an orphan from a crash before its row was committed
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final.resolve()

    def discard(self, *paths: Path | str | None) -> None:
        """Remove staged zips or trees that no row refers to any more."""
        for path in paths:
            if not path:
                continue
            target = Path(path)
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)

    def prune_latest(self, runtime_id: str, current: Path | str | None) -> None:
        """Remove LATEST trees older than the one before ``current``.

        The tree just replaced stays: instances of the old revision keep serving (and may still start)
        until the gateway has switched to the new one and they have drained. Start-up garbage collection
        removes it later.
        """
        if not current:
            return
        runtime_dir = self.root / runtime_id
        trees = sorted((p for p in runtime_dir.glob("latest-*") if p.is_dir()),
                       key=lambda p: int(p.name.split("-", 1)[1]) if p.name.split("-", 1)[1].isdigit() else -1)
        current_path = Path(current).resolve()
        older = [p for p in trees if p.resolve() != current_path]
        self.discard(*older[:-1])

    def collect_garbage(self, referenced: Iterable[str]) -> list[Path]:
        """Delete every tree and staged zip not in ``referenced`` (absolute paths); return what went."""
        keep = {str(Path(p).resolve()) for p in referenced if p}
        removed: list[Path] = []
        for parent in [p for p in self.root.iterdir() if p.is_dir()]:
            for child in list(parent.iterdir()):
                if str(child.resolve()) not in keep:
                    self.discard(child)
                    removed.append(child)
            if parent.name != STAGING and not any(parent.iterdir()):
                parent.rmdir()
        return removed


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
