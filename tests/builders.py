"""The tests build their own small fixtures with modelhound.samples."""

from modelhound.samples import *  # noqa: F403
from modelhound.samples import CAFFE_PROTOTXT, ELF_STUB, NCNN_PARAM  # noqa: F401
