import pytest

from attnlab.ocr.synth import Vocabulary, n_subjects, synthesize


@pytest.fixture(params=[(20, 5, 5), (5, 2, 3), (7, 1, 1)])
def task(request):
    return request.param


def test_subject_split_disjoint_and_facts_cover_everyone(task):
    n, m_train, m_test = task
    df = synthesize(n, m_train, m_test, seed=3)
    impl = df[df.kind == "impl"]
    train_subj = set(impl[impl.split == "train"].subject)
    test_subj = set(impl[impl.split == "test"].subject)
    assert not train_subj & test_subj
    assert len(train_subj) == n * m_train and len(test_subj) == n * m_test
    facts = df[df.kind == "fact"]
    assert (facts.split == "train").all()
    # every held-out subject's fact is in the training set
    assert test_subj <= set(facts.subject)
    assert set(facts.subject) == set(range(n_subjects(n, m_train, m_test)))


def test_answers_follow_the_pair_assignment(task):
    n, m_train, m_test = task
    df = synthesize(n, m_train, m_test, seed=0)
    v = Vocabulary(n_subjects(n, m_train, m_test), n)
    for row in df.itertuples():
        if row.kind == "fact":
            assert row.relation == v.r_fact and row.answer == v.b(row.pair)
        else:
            assert row.relation == v.r_impl and row.answer == v.c(row.pair)
    # each subject has one pair for both its fact and its implication
    assert (df.groupby("subject").pair.nunique() == 1).all()
    assert df.answer.max() < v.size


def test_deterministic_by_seed():
    a = synthesize(10, 3, 3, seed=7)
    assert a.equals(synthesize(10, 3, 3, seed=7))
    assert not a.equals(synthesize(10, 3, 3, seed=8))


def test_rejects_empty_task():
    with pytest.raises(ValueError):
        synthesize(0, 1, 1, seed=0)
