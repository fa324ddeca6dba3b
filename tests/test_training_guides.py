"""examples/keras_guides.py: the Keras 3 guides' training examples (subclassing, custom train_step, GAN, VAE,
mixed precision, TensorBoard, schedules) run on glassnet with ``import glassnet as keras``."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_keras_guides_run():
    done = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "keras_guides.py")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=ROOT, KERAS_BACKEND="torch", OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "guides: {'subclassing': True, 'custom_train_step': True, 'gan': True, 'vae': True, " \
           "'mixed_precision': True, 'tensorboard': True, 'schedules': True}" in done.stdout
    assert "mixed_precision: x.dtype bfloat16 outputs.dtype float32 variables {'torch.float32'}" in done.stdout
