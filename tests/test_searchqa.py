"""SearchQA: the generated encyclopedia and its questions, AgentGym's reading and scoring of replies,
the expert (which answers only from returned passages), Search-R1's files, the BM25 cache and
dense retrieval with a tiny local encoder. Everything runs on a small generated corpus in a
temporary cache."""

from __future__ import annotations

import json
import random
import re
from collections import Counter

import gymnasium as gym
import pytest
from helpers import finish_with_expert

pytest.importorskip("tantivy")

import agentgym_envs  # noqa: E402,F401  (registers AgentGym/SearchQA-v0)
from agentgym_envs import family  # noqa: E402
from agentgym_envs.envs import bm25  # noqa: E402
from agentgym_envs.envs.searchqa import env as searchqa  # noqa: E402
from agentgym_envs.envs.searchqa.corpus import show_passages, write_jsonl  # noqa: E402
from agentgym_envs.envs.searchqa.expert import read_fact  # noqa: E402
from agentgym_envs.envs.searchqa.questions import (  # noqa: E402
    NUM_TASKS,
    NUM_TEST,
    RELATIONS,
    TEST_SOURCES,
    TRAIN_SOURCES,
    data_source,
    parse_question,
)
from agentgym_envs.envs.searchqa.scoring import INVALID, MAX_QUERY_CHARS, exact_match, normalize_answer  # noqa: E402
from agentgym_envs.envs.searchqa.world import KINDS, World  # noqa: E402

ENV_ID = "AgentGym/SearchQA-v0"
SMALL = 1500  # passages in the tests' encyclopedia
SAMPLE = random.Random(7).sample(range(NUM_TEST), 240) + random.Random(8).sample(
    range(NUM_TEST, NUM_TASKS), 60
)


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    """Every index and offsets file of this module in a temporary cache, never the user's."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("searchqa-cache")
        patch.setenv("AGENTGYM_CACHE", str(folder))
        yield folder


def make(**kwargs) -> gym.Env:
    return gym.make(ENV_ID, num_passages=SMALL, **kwargs)


@pytest.fixture(scope="module")
def library():
    return make().unwrapped.library


@pytest.fixture(scope="module")
def world(library) -> World:
    return library.corpus.world


@pytest.fixture(scope="module")
def normalized_passages(world) -> list[str]:
    return [f" {normalize_answer(world.passage(p))} " for p in range(len(world))]


# ------------------------------------------------------------------------------ the encyclopedia
def test_the_world_is_the_same_on_every_build_and_scales_with_the_size():
    first, again = World(SMALL, 0), World(SMALL, 0)
    assert [first.passage(p) for p in range(len(first))] == [again.passage(p) for p in range(len(again))]
    assert World(SMALL, 1).passage(0) != first.passage(0)
    assert 0.9 * SMALL <= len(first) <= 1.1 * SMALL
    bigger = World(4 * SMALL, 0)
    assert 3.6 * SMALL <= len(bigger) <= 4.4 * SMALL


def test_passages_are_wiki18_shaped_and_every_entity_has_one(world):
    titles = Counter()
    for position in range(len(world)):
        contents = world.passage(position)
        title, _, text = contents.partition("\n")
        assert re.fullmatch(r'"[^"\n]+"', title) and text and contents.isascii()
        assert 25 <= len(text.split()) <= 160
        titles[title] += 1
    for kind in KINDS:
        for index in range(len(world.entities(kind))):
            (first,) = world.passages_of((kind, index))[:1]
            assert world.passage(first).startswith(f'"{world.name((kind, index))}"\n')
    assert len({world.name((k, i)) for k in KINDS for i in range(len(world.entities(k)))}) == sum(
        len(world.entities(k)) for k in KINDS
    )  # names are unique


def test_the_test_and_train_halves_share_no_entity(world):
    for kind in KINDS:
        for index in range(len(world.entities(kind))):
            ref = (kind, index)
            for relation, (subject, value_kind) in RELATIONS.items():
                if subject != kind or value_kind is None:
                    continue
                value = world.fact(ref, relation)
                if value is not None:
                    assert world.in_test_half(value) == world.in_test_half(ref), (ref, relation, value)


def test_every_fact_is_stated_in_its_subjects_passage(world):
    """The expert's reading of the passages gives back every fact of the world."""
    for kind in KINDS:
        for index in range(0, len(world.entities(kind)), 7):
            ref = (kind, index)
            passages = [world.passage(p) for p in world.passages_of(ref)]
            for relation, (subject, _) in RELATIONS.items():
                if subject != kind:
                    continue
                value = world.fact(ref, relation)
                read = read_fact(passages, world.name(ref), relation)
                shown = world.name(value) if isinstance(value, tuple) else value
                assert read == shown, (ref, relation)


# ------------------------------------------------------------------------------ questions
def test_item_ids_follow_agentgyms_data_sources():
    fam = family(ENV_ID)
    assert fam.item_prefix == "searchqa" and fam.max_rounds == 5
    assert list(fam.splits.test) == list(range(NUM_TEST)) and list(fam.splits.train) == list(
        range(NUM_TEST, NUM_TASKS)
    )
    ranges = list(TEST_SOURCES.values()) + list(TRAIN_SOURCES.values())
    assert (
        ranges[0][0] == 0
        and all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
        and ranges[-1][1] == NUM_TASKS
    )
    assert [data_source(i) for i in (0, 3609, 3610, 14923, 29190, 36595, 49171, 51588, 51712)] == [
        "nq", "nq", "triviaqa", "popqa", "hotpotqa", "2wikimultihopqa", "musique", "bamboogle", "bamboogle"
    ]  # fmt: skip
    assert [data_source(i) for i in (51713, 130880, 130881, 221327)] == ["nq", "nq", "hotpotqa", "hotpotqa"]
    with pytest.raises(ValueError, match="task ids"):
        data_source(NUM_TASKS)


KINDS_BY_SOURCE = {
    "nq": {"single-hop"},
    "triviaqa": {"single-hop"},
    "popqa": {"single-hop"},
    "hotpotqa": {"bridge", "comparison"},
    "2wikimultihopqa": {"bridge", "comparison"},
    "musique": {"3-hop"},
    "bamboogle": {"bridge"},
}


def test_questions_are_of_their_sources_kind_and_read_back_into_their_plan(library):
    seen = Counter()
    for task_id in SAMPLE + list(range(51588, 51600)):
        question = library.question(task_id)
        assert question.data_source == data_source(task_id)
        assert question.kind in KINDS_BY_SOURCE[question.data_source]
        assert question.text.endswith("?") and question.answers
        if question.data_source == "nq":
            assert question.text == question.text.lower()
        plan = parse_question(question.text)
        assert (
            plan is not None and plan.chain == question.plan.chain and plan.compare == question.plan.compare
        )
        assert [a.lower() for a in plan.anchors] == [a.lower() for a in question.plan.anchors]
        seen[question.kind] += 1
    assert set(seen) == {"single-hop", "bridge", "comparison", "3-hop"}
    answers = Counter(
        library.question(i).answers[0] for i in SAMPLE if library.question(i).kind == "comparison"
    )
    assert answers["yes"] and answers["no"]  # same-value comparisons are not all one answer


def test_test_questions_ask_only_about_the_test_half(library, world):
    names = {half: set() for half in (True, False)}
    for kind in KINDS:
        for index in range(len(world.entities(kind))):
            names[world.in_test_half((kind, index))].add(world.name((kind, index)).lower())
    for task_id in SAMPLE:
        question = library.question(task_id)
        for anchor in question.plan.anchors:
            assert anchor.lower() in names[task_id < NUM_TEST]
            assert anchor.lower() not in names[task_id >= NUM_TEST]


def test_every_question_is_answerable_and_no_single_passage_answers_a_multi_hop_one(
    library, world, normalized_passages
):
    for task_id in SAMPLE:
        question = library.question(task_id)
        answer = f" {normalize_answer(question.answers[0])} "
        holding = [p for p in normalized_passages if answer in p]
        naming = [
            [p for p in normalized_passages if f" {normalize_answer(a)} " in p] for a in question.plan.anchors
        ]
        if question.kind == "comparison":
            assert not set(map(id, naming[0])) & set(map(id, naming[1])), question  # no passage names both
        elif question.kind == "single-hop":
            assert any(answer in p for p in naming[0]), question  # the entity's own passage states it
        else:
            assert holding, question  # the answer is in the corpus ...
            assert not [p for p in naming[0] if answer in p], question  # ... never beside the entity's name


# ------------------------------------------------------------------------------ playing
def test_first_observation_is_agentgyms_prompt_and_a_search_shows_three_passages():
    env = make(split="test")
    obs, info = env.reset(options={"task_id": 29190})
    question = env.unwrapped.question
    assert obs == searchqa.PROMPT + question.text and obs.endswith(" Question: " + question.text)
    assert info["subtask"] == "hotpotqa" and info["available_actions"] is None
    assert "<search> query </search>" in info["instruction"] and "Action:" in info["instruction"]
    obs, reward, terminated, _, info = env.step(
        f"<think>I should look.</think>\n<search> {question.plan.anchors[0]} </search>"
    )
    assert obs.startswith('<information>Doc 1(Title: "') and obs.endswith("</information>")
    assert [int(n) for n in re.findall(r"Doc (\d)\(Title: ", obs)] == [1, 2, 3]
    assert reward == 0.0 and not terminated and info["score"] == 0.0


def test_agentgym_passage_layout():
    shown = show_passages(['"Café"\nFirst line\nsecond line', "no title line"])
    doc_1, doc_2 = 'Doc 1(Title: "Cafe") First line\nsecond line', "Doc 2(Title: no title line)"
    assert shown == f"<information>{doc_1}\n{doc_2}</information>"


def test_a_wrong_answer_can_be_corrected_and_the_right_one_ends_the_episode():
    env = make(split="test")
    env.reset(options={"task_id": 3})
    gold = env.unwrapped.question.answers[0]
    obs, reward, terminated, _, info = env.step("<answer> Nobody Atall </answer>")
    assert obs == searchqa.WRONG and reward == 0.0 and not terminated and not info["success"]
    # AgentGym: the first tag says what the reply does, the LAST <answer> pair is scored.
    reply = f"<think>hmm</think><answer> wrong </answer> no, rather <answer> The {gold.upper()}. </answer>"
    obs, reward, terminated, _, info = env.step(reply)
    assert (
        obs == searchqa.CORRECT and reward == 1.0 and terminated and info["success"] and info["score"] == 1.0
    )


def test_exact_match_is_squads_normalisation_with_accents_folded():
    assert exact_match("  the Beatles!! ", ["Beatles"]) and exact_match("Beyonce", ("Beyoncé",))
    assert exact_match("1,204,000", "1204000") and not exact_match("Beatles band", ["Beatles"])
    assert not exact_match("", ["x"])


@pytest.mark.parametrize(
    "reply, says",
    [
        ("I think the answer is Paris.", INVALID),
        ("search for Paris", INVALID),
        ("<search> Paris", "never closed"),
        ("<answer>Paris", "never closed"),
        ("Paris </answer>", "without its opening"),
        ("<search>   </search>", "query between <search> and </search> is empty"),
        ("<answer> </answer>", "answer between <answer> and </answer> is empty"),
        ("<search> a <search> b </search> </search>", "may not be nested"),
        ("<search> a <answer> b </answer> </search>", "may not be nested"),
        ("<search> " + "word " * 200 + "</search>", f"at most {MAX_QUERY_CHARS}"),
        ("<SEARCH> Paris </SEARCH>", INVALID),
        ("<search> \x00\x1b[31m漢字 </search>", None),  # odd but a query: searched, never raises
    ],
)
def test_bad_replies_are_explained_never_raised(reply, says):
    env = make()
    env.reset(options={"task_id": 5})
    obs, reward, terminated, truncated, info = env.step(reply)
    assert reward == 0.0 and not terminated and obs in env.observation_space
    if says is not None:
        assert obs.startswith(INVALID) and says in obs
    else:
        assert obs.startswith("<information>")


def test_the_round_limit_is_agentgym_rls_five_rounds():
    env = make()
    env.reset(options={"task_id": 40000})
    for _ in range(4):
        assert not env.step("<search> anything at all </search>")[3]
    assert env.step("<search> anything at all </search>")[3]


# ------------------------------------------------------------------------------ the expert
def test_expert_solves_at_least_95_percent_of_each_kind_within_the_round_limit():
    env = make(split="test")
    solved, rounds = Counter(), []
    asked = Counter()
    for task_id in SAMPLE:
        env.reset(options={"task_id": task_id})
        info, used = finish_with_expert(env)
        kind = env.unwrapped.question.kind
        asked[kind] += 1
        solved[kind] += info["success"]
        rounds.append(used)
    for kind, count in asked.items():
        assert solved[kind] >= 0.95 * count, (kind, solved[kind], count)
    assert max(rounds) <= family(ENV_ID).max_rounds


def test_the_expert_answers_what_the_passages_say_not_what_it_knows(library, monkeypatch):
    """Passages doctored to give another value: the expert answers the doctored value (and fails)."""
    env = make(split="test").unwrapped
    task_id = next(  # a bridge question whose answer is a name (doctored into another name)
        i
        for i in SAMPLE
        if library.question(i).kind == "bridge" and library.question(i).answers[0][0].isupper()
    )
    env.reset(options={"task_id": task_id})
    gold = env.question.answers[0]
    real_search = env.library.search
    monkeypatch.setattr(
        env.library, "search", lambda query: [p.replace(gold, "Zzyzx") for p in real_search(query)]
    )
    for _ in range(5):
        thought, action = env.expert()
        _, _, terminated, _, _ = env.step(action)
        if action.startswith("<answer>"):
            break
    assert action == "<answer> Zzyzx </answer>" and not terminated


def test_the_expert_searches_before_it_answers_and_its_thoughts_say_why():
    env = make(split="test")
    env.reset(options={"task_id": 49171})  # a MuSiQue three-hop question
    actions = []
    while True:
        thought, action = env.unwrapped.expert()
        assert thought.strip()
        actions.append(action)
        _, _, terminated, _, info = env.step(action)
        if terminated:
            break
    assert info["success"] and len(actions) >= 4
    assert all(a.startswith("<search> ") for a in actions[:-1]) and actions[-1].startswith("<answer> ")


# ------------------------------------------------------------------------------ Search-R1's files
def write_search_r1_files(folder):
    """A small corpus in wiki-18's format (a blank line and accents included) and question files
    as Search-R1's data scripts write them."""
    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    corpus = folder / "wiki.jsonl"
    passages = [
        '"Ada Lovelace"\nAda Lovelace was an English mathematician, the daughter of Lord Byron.',
        '"Lord Byron"\nLord Byron was an English poet born in London.',
        '"Beyoncé"\nBeyoncé Knowles is an American singer born in Houston.',
        '"Houston"\nHouston is a city in Texas.',
    ]
    lines = [json.dumps({"id": str(i), "contents": c}) for i, c in enumerate(passages)]
    corpus.write_text("\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]) + "\n")

    def row(question, answers, source):
        return {
            "id": "x",
            "question": question,
            "golden_answers": answers,
            "data_source": source,
            "prompt": [{"role": "user", "content": "Answer the given question. " + question}],
            "ability": "fact-reasoning",
            "reward_model": {"style": "rule", "ground_truth": {"target": answers}},
            "extra_info": {"split": "test", "index": 0},
        }

    test_rows = [
        row("Who was Ada Lovelace's father?", ["Lord Byron", "George Gordon Byron"], "nq"),
        row("In which city was Beyoncé born?", ["Houston"], "popqa"),
        row("Where was the father of Ada Lovelace born?", ["London"], "hotpotqa"),
    ]
    train_rows = [row("What is Houston a city in?", ["Texas"], "nq")]
    pq.write_table(pyarrow.Table.from_pylist(test_rows), folder / "test.parquet")
    pq.write_table(pyarrow.Table.from_pylist(train_rows), folder / "train.parquet")
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train_rows))
    return corpus


def test_search_r1_files_play_under_agentgyms_ids(tmp_path):
    corpus = write_search_r1_files(tmp_path)
    questions = {"test": tmp_path / "test.parquet", "train": tmp_path / "train.parquet"}
    env = gym.make(ENV_ID, corpus=corpus, questions=questions)
    obs, info = env.reset(options={"task_id": 1})
    assert obs.endswith("Question: In which city was Beyonce born?") and info["subtask"] == "popqa"
    obs, *_ = env.step("<search> Beyoncé singer </search>")
    assert obs.startswith('<information>Doc 1(Title: "Beyonce") Beyonce Knowles')
    assert env.step("<answer> houston </answer>")[2]
    assert env.reset(options={"task_id": 3})[1]["item_id"] == "searchqa_3"  # past the file: wraps to row 0
    assert env.unwrapped.question.text == "Who was Ada Lovelace's father?"
    assert env.step("<answer> George Gordon Byron </answer>")[4]["success"]  # any gold answer
    env.reset(options={"task_id": NUM_TEST})  # the first train id is the train file's row 0
    assert env.unwrapped.question.answers == ("Texas",)
    info, rounds = finish_with_expert(env)  # the gold expert: search the question, answer
    assert info["success"] and rounds == 2
    jsonl = gym.make(ENV_ID, corpus=corpus, questions={"train": tmp_path / "train.jsonl"})
    jsonl.reset(options={"task_id": NUM_TEST + 5})
    assert jsonl.unwrapped.question.text == "What is Houston a city in?"
    with pytest.raises(ValueError, match="no test question file"):
        jsonl.reset(options={"task_id": 0})


def test_bad_file_arguments_are_clear_errors(tmp_path):
    corpus = write_search_r1_files(tmp_path)
    with pytest.raises(ValueError, match="together"):
        gym.make(ENV_ID, corpus=corpus)
    with pytest.raises(ValueError, match="maps 'test'"):
        gym.make(ENV_ID, corpus=corpus, questions={"dev": tmp_path / "test.parquet"})
    (tmp_path / "q.csv").write_text("question\n")
    with pytest.raises(ValueError, match=r"\.parquet, \.json or \.jsonl"):
        gym.make(ENV_ID, corpus=corpus, questions={"test": tmp_path / "q.csv"}).reset(options={"task_id": 0})
    with pytest.raises(ValueError, match="retriever_model"):
        make(retriever="e5")
    with pytest.raises(ValueError, match="retriever is one of"):
        make(retriever="google")


def test_a_generated_corpus_written_as_jsonl_searches_the_same(tmp_path, library):
    path = write_jsonl(library.corpus, tmp_path / "generated.jsonl")
    first = json.loads(path.read_text().splitlines()[0])
    assert set(first) == {"id", "contents"} and first["contents"] == library.corpus.contents(0)
    files = searchqa.open_library(
        None, 0, path, {"test": tmp_path / "none.parquet"}, "bm25", None, None, None, 3
    )
    for query in ("founded", "river population", library.question(3).plan.anchors[0]):
        assert files.search(query) == library.search(query)


# ------------------------------------------------------------------------------ retrieval
def test_the_bm25_index_is_built_once_then_loaded_from_the_cache(library, cache):
    manifest = library.retriever.folder / bm25.MANIFEST
    stamp = manifest.stat().st_mtime_ns
    expected = library.search("university founded")
    bm25.forget_open_indexes()
    searchqa._LIBRARIES.clear()
    again = make().unwrapped.library
    assert again is not library and again.search("university founded") == expected
    assert manifest.stat().st_mtime_ns == stamp and str(library.retriever.folder).startswith(str(cache))


def tiny_encoder(folder, texts):
    """A sentence-transformers model built here (no download): a word-level tokenizer over the
    corpus's words and random 64-wide static embeddings, mean-pooled. Its folder name says e5,
    so queries and passages get e5's prefixes."""
    pytest.importorskip("faiss")
    pytest.importorskip("sentence_transformers")
    import numpy as np
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    try:
        from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    except ImportError:  # sentence-transformers before 6
        from sentence_transformers.models import StaticEmbedding

    words = sorted(
        {w for text in texts for w in re.findall(r"\w+|[^\w\s]", text.lower())} | {"query", "passage"}
    )
    vocabulary = {word: i for i, word in enumerate(["[UNK]", *words])}
    tokenizer = Tokenizer(models.WordLevel(vocabulary, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    weights = np.random.default_rng(0).standard_normal((len(vocabulary), 64)).astype("float32")
    model = SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_weights=weights)], device="cpu")
    model.save(str(folder / "tiny-e5"))
    return folder / "tiny-e5"


def test_dense_retrieval_with_a_local_encoder_and_faiss(tmp_path, library, cache):
    texts = [library.corpus.contents(p) for p in range(len(library.corpus))]
    model = tiny_encoder(tmp_path, texts)
    env = make(retriever="e5", retriever_model=model, split="test")
    dense = env.unwrapped.library.retriever
    assert dense.is_e5 and dense.index.ntotal == len(texts)
    for position in (0, 123, 777):  # a passage's own text finds that passage
        assert position in dense.search(texts[position], 3)
    env.reset(options={"task_id": 0})
    obs, reward, *_ = env.step(f"<search> {texts[5].split('.')[0]} </search>")  # its first sentence
    assert obs.count("Doc ") == 3 and reward == 0.0
    (saved,) = (cache / "searchqa").glob("dense-*.faiss")  # built once, cached; a prebuilt index can be given
    searchqa._LIBRARIES.clear()
    given = make(retriever="e5", retriever_model=model, faiss_index=saved).unwrapped.library.retriever
    assert given.search(texts[123], 3) == dense.search(texts[123], 3)
