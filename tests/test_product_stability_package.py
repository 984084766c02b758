"""The package eoslib.papers.product_stability: its public API, bad input, import side effects."""

import math
import subprocess
import sys

import pytest

from eoslib import losses
from eoslib.papers import product_stability as ps

BCE = losses.soft_bce(0.2)
L2 = losses.multilayer_squared(2)


def test_bad_input_raises_value_error_naming_parameter():
    m = ps.minimum_derivatives(BCE)
    with pytest.raises(ValueError, match=r"eta .*\(12\.5, inf\)"):
        ps.bifurcation_cycle(BCE, 12.0)
    with pytest.raises(ValueError, match="alpha"):
        ps.cycle_amplitude_prediction(losses.squared(), 2.1)
    with pytest.raises(ValueError, match="alpha"):
        ps.predicted_limit_sharpness(losses.quartic_negative_control(), 0.1)
    with pytest.raises(ValueError, match="dz0"):
        ps.eos_init(BCE, 0.05, 0.1, 1e3)
    with pytest.raises(ValueError, match="mu0"):
        ps.eos_init(BCE, 0.05, -3.0, 0.0)
    with pytest.raises(ValueError, match=r"eta .*\(0, inf\)"):
        ps.gd_product(BCE, -0.1, 1.0, 1.0, 10)
    with pytest.raises(ValueError, match="num_steps"):
        ps.gd_product(BCE, 0.1, 1.0, 1.0, 0)
    with pytest.raises(ValueError, match="record_every"):
        ps.gd_product(BCE, 0.1, 1.0, 1.0, 10, record_every=3)
    with pytest.raises(ValueError, match="y must"):
        ps.bce_minimum_closed_form(1.0)
    with pytest.raises(ValueError, match="n must"):
        ps.multilayer_alpha_closed_form(0)
    with pytest.raises(ValueError, match="max_ratio"):
        ps.inverse_bifurcation(BCE, m.z_star, max_ratio=-1.0)
    with pytest.raises(ValueError, match="l must"):
        ps.minimum_derivatives(lambda z: z**2)
    with pytest.raises(ValueError, match="mu must"):
        ps.eta_from_mu(BCE, math.nan)


def test_import_does_not_enable_x64():
    code = "import jax, eoslib.papers.product_stability; assert not jax.config.jax_enable_x64"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_package_reexports_every_topic_module_and_modules_stay_small():
    from pathlib import Path

    topics = [ps.closed_forms, ps.cycles, ps.dynamics, ps.limits, ps.families, ps.networks]
    names = [n for m in topics for n in m.__all__]
    assert len(names) == len(set(names)), "a public name is defined in two topic modules"
    assert set(ps.__all__) == set(names)
    for m in topics:
        for n in m.__all__:
            assert getattr(ps, n) is getattr(m, n)
    for path in Path(ps.__file__).parent.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 800, path.name


def test_alpha_is_the_library_alpha():
    for loss in (losses.soft_bce(0.3), losses.multilayer_squared(3), losses.log_cosh()):
        assert ps.minimum_derivatives(loss).alpha == float(losses.product_stability(loss))
