#!/bin/sh
export PRESS_FX_DATA="${CONDA_PREFIX}/share/press-fx-placeholder"
