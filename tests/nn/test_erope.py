"""The EFA operator against the exact pairwise form, symmetries and finite differences."""

import functools
import math
import subprocess
import sys

import e3x
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efa.nn import erope_attention, erope_tensor_attention
from tests.nn.oracle import pairwise_efa, relative_error, rotate_features

STATIC = ("num_segments", "lebedev_num", "max_segment_size", "grid_chunk_size")
efa_jit = jax.jit(erope_attention, static_argnames=STATIC)
#: Tensor integration under jit: eager e3x and JAX run op by op, many times slower than compiled.
tensor_jit = jax.jit(
    erope_tensor_attention,
    static_argnames=(*STATIC, "max_degree_sph", "max_degree_out", "contraction"),
)


def make_problem(
    seed,
    sizes,
    qk=(1, 0, 8),
    v=(1, 0, 4),
    max_frequency=math.pi,
    box=4.0,
    dtype=np.float64,
):
    """Random EFA inputs for structures of the given sizes.

    ``qk`` and ``v`` are ``(P, L, F)``. ``max_length`` is set to the largest pair distance inside
    a structure, so the phases ``ω r`` reach ``max_frequency`` exactly.
    """
    rng = np.random.default_rng(seed)
    num_atoms = sum(sizes)
    parities, degree, features = qk
    q = rng.normal(size=(num_atoms, parities, (degree + 1) ** 2, features))
    k = rng.normal(size=q.shape)
    parities_v, degree_v, features_v = v
    values = rng.normal(size=(num_atoms, parities_v, (degree_v + 1) ** 2, features_v))
    positions = rng.uniform(0.0, box, size=(num_atoms, 3))
    segment_ids = np.repeat(np.arange(len(sizes)), sizes)
    same = segment_ids[:, None] == segment_ids[None]
    distances = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    max_length = distances[same].max()
    frequencies = np.linspace(0.0, max_frequency, features // 2) / max_length
    cast = lambda x: jnp.asarray(x, dtype)  # noqa: E731
    return dict(
        q=cast(q),
        k=cast(k),
        v=cast(values),
        positions=cast(positions),
        frequencies=cast(frequencies),
        segment_ids=jnp.asarray(segment_ids),
        num_segments=len(sizes),
    )


def run(problem, lebedev_num=50, **kwargs):
    return erope_attention(**problem, lebedev_num=lebedev_num, **kwargs)


def oracle(problem):
    names = ("q", "k", "v", "positions", "frequencies", "segment_ids")
    return pairwise_efa(*(problem[name] for name in names))


def rotated(problem, rotation):
    out = dict(problem)
    out["positions"] = problem["positions"] @ rotation
    for name in ("q", "k", "v"):
        out[name] = rotate_features(problem[name], rotation)
    return out


FEATURE_KINDS = {
    "scalar": dict(qk=(1, 0, 8), v=(1, 0, 4)),
    "degree2-two-parities": dict(qk=(2, 2, 6), v=(2, 1, 3)),
}


@pytest.mark.parametrize("contraction", ["key_value", "per_frequency", "scores", "pairwise"])
@pytest.mark.parametrize("kind", FEATURE_KINDS)
@pytest.mark.parametrize("sizes", [(12,), (5, 11, 1, 8)], ids=["one", "batch"])
def test_matches_pairwise_oracle_inside_bound(x64, kind, sizes, contraction):
    problem = make_problem(0, sizes, **FEATURE_KINDS[kind])
    y = run(problem, contraction=contraction, grid_chunk_size=10)
    assert relative_error(y, oracle(problem)) < 1e-5


@pytest.mark.parametrize(
    "slots, values, expected",
    [
        (2, 32, "pairwise"),
        (24, 32, "scores"),
        (64, 32, "key_value"),
        (4096, 32, "key_value"),
        (4096, 4, "per_frequency"),  # 25 grid pairs per value column and more
    ],
)
def test_auto_contraction_picks_the_cheaper_order(slots, values, expected):
    from efa.nn.erope import contraction_order

    assert contraction_order("auto", slots, 25, 25 * 32, 1, values) == expected
    with pytest.raises(ValueError, match="contraction='fast'"):
        contraction_order("fast", slots, 25, 25 * 32, 1, values)


def test_matches_oracle_at_larger_bound_with_larger_grid(x64):
    problem = make_problem(1, (9, 7), qk=(1, 1, 8), max_frequency=4 * math.pi)
    assert relative_error(run(problem, lebedev_num=194), oracle(problem)) < 1e-5


@pytest.mark.parametrize("contraction", ["key_value", "per_frequency", "scores", "pairwise"])
def test_float32_matches_oracle(x64, contraction):
    # float32 takes the polynomial sine/cosine of efa.nn.trig; float64 takes jnp.sin/jnp.cos.
    problem64 = make_problem(2, (10, 6), **FEATURE_KINDS["degree2-two-parities"])
    problem32 = make_problem(2, (10, 6), dtype=np.float32, **FEATURE_KINDS["degree2-two-parities"])
    y = run(problem32, contraction=contraction)
    assert y.dtype == jnp.float32
    assert relative_error(y, oracle(problem64)) < 1e-4


@pytest.mark.parametrize("chunk", [1, 7, 50])
def test_grid_chunking_does_not_change_result(x64, chunk):
    problem = make_problem(3, (6, 9))
    reference = run(problem, grid_chunk_size=50)
    np.testing.assert_allclose(run(problem, grid_chunk_size=chunk), reference, rtol=1e-12)


def outputs_and_gradients(problem, tensor: bool, contraction: str):
    """Outputs of one contraction order (plain EFA, or tensor integration to degree 1 with its
    odd harmonics) and the gradient of a nonlinear function of them by q, k, v, positions."""

    def outputs(q, k, v, positions):
        arguments = dict(problem, q=q, k=k, v=v, positions=positions)
        if tensor:
            return erope_tensor_attention(
                **arguments, max_degree_sph=1, max_degree_out=1, contraction=contraction
            )
        return run(arguments, contraction=contraction)

    inputs = tuple(problem[name] for name in ("q", "k", "v", "positions"))
    loss = jax.grad(lambda *a: jnp.sum(jnp.sin(outputs(*a))), argnums=(0, 1, 2, 3))
    return jax.jit(outputs)(*inputs), jax.jit(loss)(*inputs)


#: Budgets that make every chunk one atom slot (and, for the key–value order, one grid pair),
#: so that the scans and maps over chunks run with many steps.
SMALLEST_CHUNKS = {
    "per_frequency": {"PER_FREQUENCY_CHUNK_ELEMENTS": 1},
    "key_value": {"DEFAULT_CHUNK_ELEMENTS": 1, "MIN_BLOCK_SLOTS": 1},
}


@pytest.mark.parametrize(
    # each contraction order and each output kind once by default; the other pairs extended
    ("tensor", "contraction"),
    [
        pytest.param(False, "key_value", id="plain-key_value"),
        pytest.param(True, "per_frequency", id="tensor-per_frequency"),
        pytest.param(False, "per_frequency", id="plain-per_frequency", marks=pytest.mark.extended),
        pytest.param(True, "key_value", id="tensor-key_value", marks=pytest.mark.extended),
    ],
)
def test_atom_chunking_does_not_change_result(x64, monkeypatch, tensor, contraction):
    import efa.nn.erope

    problem = make_problem(3, (23, 9, 17), **FEATURE_KINDS["degree2-two-parities"])
    reference, reference_gradient = outputs_and_gradients(problem, tensor, contraction)
    # 23 chunks of one slot through lax.map and the scan (key-value order: times 25 grid pairs)
    for name, value in SMALLEST_CHUNKS[contraction].items():
        monkeypatch.setattr(efa.nn.erope, name, value)
    chunked, chunked_gradient = outputs_and_gradients(problem, tensor, contraction)
    np.testing.assert_allclose(chunked, reference, rtol=1e-12, atol=1e-13)
    for mine, theirs in zip(chunked_gradient, reference_gradient, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
    if not tensor:
        assert relative_error(chunked, oracle(problem)) < 1e-5


@pytest.mark.parametrize(
    "groups, slots, expected",
    [
        (1, 65536, (25, 163)),  # efa bench attention's largest structure: the whole grid
        (1, 12, (25, 12)),  # a small structure: one block
        (512, 32, (1, 32)),  # many structures: the grid in chunks, blocks of whole structures
    ],
)
def test_key_value_tiles_keep_block_features_near_the_budget(groups, slots, expected):
    from efa.nn.erope import DEFAULT_CHUNK_ELEMENTS, MIN_BLOCK_SLOTS, _key_value_tiles

    width, values, grid_pairs = 32, 32, 25  # F_qk = 16 scalars, E = 32, 50 Lebedev points
    chunk, block = _key_value_tiles(groups, slots, width, width * values, grid_pairs, None)
    assert (chunk, block) == expected
    features = groups * block * chunk * width
    assert features <= DEFAULT_CHUNK_ELEMENTS or block == min(slots, MIN_BLOCK_SLOTS)
    assert _key_value_tiles(groups, slots, width, width * values, grid_pairs, 7)[0] == 7


def test_per_frequency_order_takes_features_of_lower_precision_than_positions(monkeypatch):
    import efa.nn.erope

    monkeypatch.setattr(efa.nn.erope, "PER_FREQUENCY_CHUNK_ELEMENTS", 1)
    problem = make_problem(4, (9, 5), dtype=np.float32)
    mixed = dict(problem, **{name: problem[name].astype(jnp.bfloat16) for name in ("q", "k", "v")})
    y = run(mixed, contraction="per_frequency")
    assert y.dtype == jnp.float32
    assert relative_error(y, run(problem, contraction="per_frequency")) < 3e-2


def test_translation_invariance_is_exact(x64):
    problem = make_problem(4, (7, 5), **FEATURE_KINDS["degree2-two-parities"])
    shifted = dict(problem, positions=problem["positions"] + jnp.array([3.1, -7.4, 12.9]))
    np.testing.assert_allclose(run(shifted), run(problem), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("kind", FEATURE_KINDS)
def test_rotation_equivariance_inside_bound(x64, kind):
    problem = make_problem(5, (8, 6), **FEATURE_KINDS[kind])
    rotation = e3x.so3.random_rotation(jax.random.PRNGKey(0))
    expected = rotate_features(run(problem), rotation)
    assert relative_error(run(rotated(problem, rotation)), expected) < 1e-5


def rotation_error(problem, lebedev_num):
    errors = []
    for seed in range(3):
        rotation = e3x.so3.random_rotation(jax.random.PRNGKey(seed))
        y = run(problem, lebedev_num=lebedev_num)
        errors.append(relative_error(run(rotated(problem, rotation), lebedev_num), y))
    return max(errors)


def test_outside_the_bound_invariance_breaks(x64):
    """b_max = 4π needs 194 points; with 50 points both the oracle and invariance are lost."""
    problem = make_problem(6, (14,), qk=(1, 0, 16), max_frequency=4 * math.pi)
    inside = rotation_error(problem, 194)
    outside = rotation_error(problem, 50)
    assert inside < 1e-5
    assert outside > 1e-3
    assert outside > 100 * inside
    assert relative_error(run(problem, lebedev_num=50), oracle(problem)) > 1e-3


def test_permutation_equivariance(x64):
    problem = make_problem(7, (6, 9, 4), **FEATURE_KINDS["degree2-two-parities"])
    permutation = np.random.default_rng(0).permutation(19)
    permuted = {
        name: (value[permutation] if name not in ("frequencies", "num_segments") else value)
        for name, value in problem.items()
    }
    np.testing.assert_allclose(run(permuted), run(problem)[permutation], rtol=1e-10, atol=1e-12)


def test_padding_atoms_do_not_change_real_atoms(x64):
    problem = make_problem(8, (7, 5))
    rng = np.random.default_rng(1)
    num_padding = 4
    padded = dict(problem, num_segments=3)
    for name in ("q", "k", "v"):
        extra = rng.normal(size=(num_padding,) + problem[name].shape[1:])
        padded[name] = jnp.concatenate([problem[name], extra])
    padded["positions"] = jnp.concatenate([problem["positions"], jnp.zeros((num_padding, 3))])
    padded["segment_ids"] = jnp.concatenate([problem["segment_ids"], jnp.full(num_padding, 2)])
    np.testing.assert_allclose(run(padded)[:12], run(problem), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("contraction", ["pairwise", "key_value"])
def test_contiguous_layout_equals_segment_ids(x64, contraction):
    """A batch padded per structure (slot ``s·n + i``) gives the same outputs as segment ids."""
    from efa.nn.segments import contiguous_layout

    sizes, slots = (3, 5, 2), 5
    problem = make_problem(17, sizes, **FEATURE_KINDS["degree2-two-parities"])
    real = np.concatenate([s * slots + np.arange(size) for s, size in enumerate(sizes)])
    mask = np.zeros(len(sizes) * slots, bool)
    mask[real] = True
    rng = np.random.default_rng(3)
    padded = {}
    for name in ("q", "k", "v", "positions"):
        junk = rng.normal(size=(mask.size,) + problem[name].shape[1:])  # padding atoms: junk
        padded[name] = jnp.asarray(junk).at[real].set(problem[name])
    layout = contiguous_layout(jnp.asarray(mask), len(sizes))
    y = erope_attention(
        **padded,
        frequencies=problem["frequencies"],
        segment_ids=jnp.zeros(mask.size, int),
        num_segments=len(sizes),
        layout=layout,
        contraction=contraction,
    )
    np.testing.assert_allclose(y[real], run(problem), rtol=1e-12, atol=1e-14)
    assert float(jnp.abs(y[~mask]).max()) == 0.0
    with pytest.raises(ValueError, match="dividing"):
        contiguous_layout(jnp.asarray(mask), 4)


@pytest.mark.parametrize("contraction", ["auto", "per_frequency"])
def test_position_gradient_matches_central_differences(x64, contraction):
    problem = make_problem(9, (5, 4), **FEATURE_KINDS["degree2-two-parities"])
    weights = jnp.asarray(np.random.default_rng(2).normal(size=problem["v"].shape))

    def energy(positions):
        output = run(
            dict(problem, positions=positions), grid_chunk_size=20, contraction=contraction
        )
        return jnp.sum(weights * output)

    gradient = jax.jit(jax.grad(energy))(problem["positions"])
    energy = jax.jit(energy)  # 2 × 27 evaluations below
    step = 1e-5
    numeric = np.zeros(problem["positions"].shape)
    for index in np.ndindex(*numeric.shape):
        shift = jnp.zeros_like(problem["positions"]).at[index].set(step)
        plus = energy(problem["positions"] + shift)
        minus = energy(problem["positions"] - shift)
        numeric[index] = (plus - minus) / (2 * step)
    assert relative_error(gradient, numeric) < 1e-7


@pytest.mark.parametrize("contraction", ["auto", "per_frequency"])
def test_feature_gradients_match_oracle(x64, contraction):
    problem = make_problem(10, (6, 5), **FEATURE_KINDS["degree2-two-parities"])
    ours_run = functools.partial(run, contraction=contraction)

    def loss(function, q, k, v):
        return jnp.sum(jnp.sin(function(dict(problem, q=q, k=k, v=v))))

    arguments = (problem["q"], problem["k"], problem["v"])
    ours = jax.jit(jax.grad(lambda *a: loss(ours_run, *a), argnums=(0, 1, 2)))(*arguments)
    reference = jax.jit(jax.grad(lambda *a: loss(oracle, *a), argnums=(0, 1, 2)))(*arguments)
    for mine, theirs in zip(ours, reference):
        assert relative_error(mine, theirs) < 1e-5


def test_jit_and_vmap(x64):
    problems = [make_problem(seed, (6, 3)) for seed in (11, 12)]
    stacked = {
        name: jnp.stack([p[name] for p in problems])
        for name in ("q", "k", "v", "positions", "frequencies", "segment_ids")
    }
    batched = jax.vmap(
        lambda q, k, v, positions, frequencies, segment_ids: efa_jit(
            q,
            k,
            v,
            positions,
            frequencies,
            segment_ids,
            num_segments=2,
            lebedev_num=50,
            max_segment_size=6,
            grid_chunk_size=25,
        )
    )(**stacked)
    for index, problem in enumerate(problems):
        np.testing.assert_allclose(batched[index], run(problem), rtol=1e-12)


def test_atoms_beyond_max_segment_size_are_nan_not_dropped_silently(x64):
    problem = make_problem(13, (5, 3))
    y = run(problem, max_segment_size=4)
    assert np.isnan(np.asarray(y[4])).all()  # fifth atom of the first structure did not fit
    assert np.isfinite(np.asarray(y[5:])).all()


def test_jit_with_several_segments_needs_max_segment_size():
    problem = make_problem(14, (3, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="max_segment_size"):
        efa_jit(**problem, lebedev_num=50)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(k=jnp.zeros((4, 1, 1, 6))), "q and k must have the same shape"),
        (dict(q=jnp.zeros((4, 1, 1, 7)), k=jnp.zeros((4, 1, 1, 7))), "must be even"),
        (dict(q=jnp.zeros((4, 1, 3, 8)), k=jnp.zeros((4, 1, 3, 8))), r"\(L\+1\)\*\*2"),
        (dict(positions=jnp.zeros((4, 2))), "positions must have shape"),
        (dict(frequencies=jnp.zeros(3)), "frequencies must have shape"),
        (dict(v=jnp.zeros((5, 1, 1, 4))), "v must have shape"),
        (dict(segment_ids=jnp.zeros(3, int)), "segment_ids must have shape"),
    ],
)
def test_inconsistent_shapes_are_named(change, message):
    problem = dict(
        q=jnp.zeros((4, 1, 1, 8)),
        k=jnp.zeros((4, 1, 1, 8)),
        v=jnp.zeros((4, 1, 1, 4)),
        positions=jnp.zeros((4, 3)),
        frequencies=jnp.zeros(4),
        segment_ids=jnp.zeros(4, int),
        num_segments=1,
    )
    with pytest.raises(ValueError, match=message):
        run(dict(problem, **change))


def test_batched_memory_never_holds_per_atom_key_value_arrays():
    """128 structures × 32 atoms: a per-atom (N, M, D_qk, D_v) array would need 839 MB."""
    num_atoms, qk_features, v_features, lebedev_num = 4096, 16, 64, 50
    args = (
        jnp.zeros((num_atoms, 1, 1, qk_features)),
        jnp.zeros((num_atoms, 1, 1, qk_features)),
        jnp.zeros((num_atoms, 1, 1, v_features)),
        jnp.zeros((num_atoms, 3)),
        jnp.zeros(qk_features // 2),
        jnp.repeat(jnp.arange(128), 32),
    )
    per_atom_key_values = num_atoms * lebedev_num * qk_features * v_features * 4

    def loss(positions, *rest):
        return jnp.sum(
            erope_attention(*rest[:3], positions, *rest[3:], num_segments=128, max_segment_size=32)
        )

    compiled = jax.jit(jax.grad(loss)).lower(args[3], *args[:3], *args[4:]).compile()
    assert compiled.memory_analysis().temp_size_in_bytes < per_atom_key_values / 5


@pytest.mark.parametrize("contraction", ["key_value", "per_frequency"])
def test_large_structure_memory_does_not_grow_with_the_grid(contraction):
    """One structure of 2**16 atoms: with grid (or atom) chunking, memory is O(N·D), not
    O(N·M·D)."""
    num_atoms, qk_features = 2**16, 16

    def temp_bytes(lebedev_num):
        def loss(positions, features):
            return jnp.sum(
                erope_attention(
                    features,
                    features,
                    features,
                    positions,
                    jnp.ones(qk_features // 2),
                    jnp.zeros(num_atoms, int),
                    num_segments=1,
                    lebedev_num=lebedev_num,
                    contraction=contraction,
                )
            )

        compiled = (
            jax.jit(jax.grad(loss))
            .lower(jnp.zeros((num_atoms, 3)), jnp.zeros((num_atoms, 1, 1, qk_features)))
            .compile()
        )
        return compiled.memory_analysis().temp_size_in_bytes

    small_grid, large_grid = temp_bytes(50), temp_bytes(194)
    rotated_keys_large_grid = num_atoms * 194 * qk_features * 4
    assert large_grid < 1.5 * small_grid
    assert large_grid < rotated_keys_large_grid


def test_tensor_integration_degree_one_outputs_rotate_as_vectors(x64):
    problem = make_problem(15, (7, 6), qk=(1, 0, 8), v=(1, 0, 4))
    rotation = e3x.so3.random_rotation(jax.random.PRNGKey(3))

    def integrate(p, contraction="key_value"):
        return tensor_jit(
            **p, max_degree_sph=1, max_degree_out=1, max_segment_size=7, contraction=contraction
        )

    y = integrate(problem)
    for order in ("per_frequency", "scores", "pairwise"):
        np.testing.assert_allclose(integrate(problem, order), y, rtol=1e-10, atol=1e-12)
    assert y.shape == (13, 2, 4, 4)
    vectors = y[:, 1, 1:4]  # odd-parity degree-1 part: Y_1 ⊗ scalar values
    assert float(jnp.abs(vectors).max()) > 1e-3  # directional information is present
    np.testing.assert_allclose(
        integrate(rotated(problem, rotation)), rotate_features(y, rotation), atol=1e-6
    )
    rotated_vectors = (
        np.asarray(vectors).transpose(0, 2, 1)
        @ np.asarray(e3x.so3.wigner_d(rotation, max_degree=1))[1:, 1:]
    )
    np.testing.assert_allclose(
        integrate(rotated(problem, rotation))[:, 1, 1:4],
        rotated_vectors.transpose(0, 2, 1),
        atol=1e-6,
    )


def test_tensor_integration_of_degree_zero_is_plain_efa(x64):
    problem = make_problem(16, (5, 4), **FEATURE_KINDS["degree2-two-parities"])
    y = erope_tensor_attention(
        **problem, max_degree_sph=0, max_degree_out=1, include_pseudotensors_out=True
    )
    np.testing.assert_allclose(y, run(problem), rtol=1e-12, atol=1e-14)


def test_batched_float32_gradient_does_not_crash_the_backend():
    """Regression: jaxlib 0.10's CPU YNNPACK fusion segfaulted here; ``import efa`` disables it.

    Runs in a fresh interpreter so that a crash fails this test instead of killing pytest.
    """
    script = """
import efa, jax, jax.numpy as jnp
from efa.nn import erope_attention
x = jnp.ones((8, 1, 1, 16)); positions = jnp.arange(24.0).reshape(8, 3) / 7
segments = jnp.repeat(jnp.arange(2), 4)
loss = lambda p: erope_attention(x, x, x, p, jnp.ones(8) / 9, segments, 2,
                                 max_segment_size=4).sum()
print(float(jax.jit(jax.grad(loss))(positions).sum()))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_harmonic_coupling_is_float64_whatever_the_first_caller():
    # The table is cached at its first use; built with 32-bit JAX, it must still hold the
    # float64 coefficients that float64 models need.
    from efa.nn.erope import _harmonic_coupling

    _harmonic_coupling.cache_clear()
    with jax.enable_x64(False):
        coupling = _harmonic_coupling(1, 1, 1, 1, 2)
    with jax.enable_x64(True):
        exact = np.asarray(e3x.so3.clebsch_gordan(1, 1, 1), dtype=np.float64)
    assert coupling.dtype == np.float64
    nonzero = coupling[:, 0, :, 0, :] != 0
    np.testing.assert_array_equal(coupling[:, 0, :, 0, :][nonzero], exact[nonzero])
