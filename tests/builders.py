"""The tests build their own small fixtures with modelhound.samples."""

from modelhound.samples import *  # noqa: F403
from modelhound.samples import CAFFE_PROTOTXT, ELF_STUB, NCNN_PARAM  # noqa: F401


def die_if_named(path: str) -> None:
    """For worker-death tests: kill the calling process (exit 1, or SIGKILL when the name
    says ``sigkill``) on the first attempt at an input named ``die-once*`` and on every
    attempt at ``die-always*``; a marker file beside the input counts the attempts."""
    import os
    import signal

    name = os.path.basename(path)
    marker = path + ".attempted"
    first_try = not os.path.exists(marker)
    if name.startswith("die-always") or (name.startswith("die-once") and first_try):
        open(marker, "a").close()
        if "sigkill" in name:
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(1)
