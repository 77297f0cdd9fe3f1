"""The circuits templates (IOI-lite, CO-lite, MCQ-lite) and the in-context mapping tasks: answers
right, foils right, no position or token-type cue that answers without the mechanism."""

import numpy as np
import pytest

from attnlab.tasks import TASKS
from attnlab.tasks import circuits as C
from attnlab.tasks.icl_tasks import mappings


def test_ioi_answer_is_the_name_not_repeated():
    df = TASKS["ioi"].generate(400, seed=0)
    first_wins = []
    for s, p, a, f in zip(df.input_ids, df.answer_pos, df.answer, df.foils):
        n1, n2, n_s = s[1], s[3], s[5]
        assert s[p] == a and n_s in (n1, n2) and n1 != n2
        assert a == (n2 if n_s == n1 else n1) and list(f) == [n_s]
        first_wins.append(a == n1)
    assert 0.4 < np.mean(first_wins) < 0.6  # "answer the first name" is at chance


def test_colored_objects_answer_is_the_queried_objects_colour():
    df = TASKS["cobj"].generate(600, seed=1)
    slot = []
    for s, p, a, f in zip(df.input_ids, df.answer_pos, df.answer, df.foils):
        cols, objs, o_q = s[1:7:2], s[2:7:2], s[8]
        assert s[7] == C.Q and s[p] == a and len(set(cols)) == len(set(objs)) == 3
        i = list(objs).index(o_q)
        assert a == cols[i] and sorted(f) == sorted(c for c in cols if c != a)
        slot.append(i)
    assert np.bincount(slot).min() > 150  # the queried slot is uniform: no position cue


def test_mcq_answer_labels_the_right_option():
    df = TASKS["mcq"].generate(600, seed=2)
    assert 0.4 < df.standard.mean() < 0.6
    slot = []
    for s, p, a, f, std in zip(df.input_ids, df.answer_pos, df.answer, df.foils, df.standard):
        cols, objs, o_q = s[1:7:2], s[2:7:2], s[8]
        c_q = cols[list(objs).index(o_q)]
        assert s[9] == C.OPT
        labels, opts = s[10:16:2], s[11:16:2]
        assert sorted(opts) == sorted(cols) and s[p] == a
        assert a == labels[list(opts).index(c_q)] and sorted(f) == sorted(x for x in labels if x != a)
        if std:
            assert list(labels) == [C.LABELS, C.LABELS + 1, C.LABELS + 2]
        slot.append(list(opts).index(c_q))
    assert np.bincount(slot).min() > 150
    assert max(max(s) for s in df.input_ids) < TASKS["mcq"].vocab_size()


def test_no_target_contradicts_another_task_on_the_same_prefix():
    """Dense supervision over a task mixture: where two tasks share a prefix, no target may differ.
    MCQ-lite's prompt begins with CO-lite's, so OPT (after o_q) is not a target."""
    co, mc = TASKS["cobj"].generate(50, seed=0), TASKS["mcq"].generate(50, seed=0)
    for s, m in zip(mc.input_ids, mc.target_mask):
        assert s[9] == C.OPT and not m[9] and m[1:9].all() and m[10:].all()
    # the prefix "... Q o_q" is shared; only CO-lite supervises the token after it (its answer)
    after_query = [(df.task.iloc[0], bool(m[9])) for df in (co, mc) for m in df.target_mask]
    assert {task for task, on in after_query if on} == {"cobj"}


@pytest.mark.parametrize("task", ["ioi", "cobj", "mcq"])
def test_answer_only_targets_mark_the_answer_alone(task):
    """targets="answer": the one target is the answer token; the sequences are those of "all"."""
    dense, sparse = TASKS[task].generate(30, seed=3), TASKS[task].generate(30, seed=3, targets="answer")
    for a, b in zip(dense.input_ids, sparse.input_ids):
        assert list(a) == list(b)
    for m, p in zip(sparse.target_mask, sparse.answer_pos):
        assert m.sum() == 1 and m[p]
    with pytest.raises(ValueError, match="targets"):
        TASKS[task].generate(2, seed=0, targets="every")


def test_mappings_share_75_percent_within_a_family():
    F = mappings(4, 4, 32, 32, mapping_seed=3)
    assert F.shape == (16, 32)
    same = [np.mean(F[a] == F[b]) for a in range(16) for b in range(16) if a < b and a // 4 == b // 4]
    cross = [np.mean(F[a] == F[b]) for a in range(16) for b in range(16) if a // 4 != b // 4]
    assert np.allclose(same, 0.75)
    assert np.mean(cross) < 0.15


@pytest.mark.parametrize("noise", [0.0, 0.2])
def test_icl_prompts_follow_their_task(noise):
    df = TASKS["icl_tasks"].generate(300, seed=4, noise=noise, min_demos=10, max_demos=10, mapping_seed=3)
    F = mappings(mapping_seed=3)
    X, Y = 8, 8 + 32
    wrong = []
    for s, t, p, a, k in zip(df.input_ids, df.task_id, df.answer_pos, df.answer, df.n_demos):
        assert k == 10 and p == 22 and len(s) == 24 and s[p] == a
        xs, ys = s[1:p:2] - X, s[2:p + 1:2] - Y
        assert ys[-1] == F[t][xs[-1]]  # the answer is never corrupted
        wrong += list(ys[:-1] != F[t][xs[:-1]])
    assert np.mean(wrong) == pytest.approx(noise, abs=0.03)
    # no cue: the query input alone does not give the answer (16 tasks disagree on most inputs)
    assert np.mean([len(set(F[:, x])) > 1 for x in range(32)]) > 0.9


def test_icl_task_subset_and_errors():
    df = TASKS["icl_tasks"].generate(50, seed=0, tasks=[5])
    assert set(df.task_id) == {5} and set(df.family) == {1}
    with pytest.raises(ValueError):
        TASKS["icl_tasks"].generate(5, seed=0, min_demos=3, max_demos=2)
