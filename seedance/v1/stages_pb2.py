"""Alias of seedance.protos.seedance.v1.stages_pb2 (see __init__)."""

from seedance.protos.seedance.v1.stages_pb2 import *  # noqa: F403
