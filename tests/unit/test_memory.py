"""glibc's thresholds: raised once, and left alone when asked."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CHECK = """
import ctypes, ctypes.util, sys
from oio.common.memory import tune_malloc
first = tune_malloc()
print(first, tune_malloc() == first)
"""


def _run(env_extra: dict) -> str:
    env = dict(os.environ, **env_extra)
    return subprocess.run([sys.executable, "-c", CHECK], env=env, check=True,
                          capture_output=True, text=True).stdout.split()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_tuned_once_on_glibc():
    assert _run({"OIO_MALLOC_TUNE": "1"}) == ["True", "True"]


def test_environment_opts_out():
    assert _run({"OIO_MALLOC_TUNE": "0"}) == ["False", "True"]
