#!/bin/sh
export LD_PRELOAD="${CONDA_PREFIX}/lib/libevil.so"
