"""`weilinli classify` and `weilinli nlp mine|eval` driven through typer's CliRunner."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from nlp.cli import classify_command, nlp_app
from nlp.rules import load_rules_file

FIELDS = {"id", "intent", "category", "subcategory", "grade", "urgent", "place", "confidence", "rule", "service"}

TRAIN = [
    ("学校 食堂 饭菜 学生 老师", "教育"),
    ("学校 老师 补课 收费 学生", "教育"),
    ("小学 学位 入学 学生 家长", "教育"),
    ("老师 工资 学校 拖欠", "教育"),
    ("公交 线路 站台 车辆 司机", "交通"),
    ("公交车 司机 绕路 站台", "交通"),
    ("道路 拥堵 红绿灯 车辆 路口", "交通"),
    ("出租车 拒载 司机 车辆", "交通"),
    ("医院 医生 看病 挂号 药", "卫生"),
    ("医院 收费 药 病人", "卫生"),
    ("疫苗 接种 医生 社区医院", "卫生"),
    ("医生 态度 病人 看病", "卫生"),
]
TEST = [
    ("学校的老师让学生补课还收费", "教育"),
    ("公交车司机不按站台停车", "交通"),
    ("医院挂号难看病贵", "卫生"),
    ("学生入学要学位", "教育"),
]


@pytest.fixture
def app() -> typer.Typer:
    a = typer.Typer()
    a.command("classify")(classify_command)
    a.add_typer(nlp_app, name="nlp")
    return a


def _jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_classify_file(app, tmp_path):
    f = _jsonl(tmp_path / "in.jsonl", [
        {"id": 1, "text": "3栋2单元楼道灯不亮"},
        {"id": "b", "text": "厨房一股煤气味"},
        {"id": 3, "text": ""},
        {"id": 4, "text": "满意"},
    ])
    r = CliRunner().invoke(app, ["classify", str(f)])
    assert r.exit_code == 0, r.output
    out = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert [o["id"] for o in out] == [1, "b", 3, 4]
    assert all(set(o) == FIELDS for o in out)
    assert out[0]["category"] == "property" and out[0]["place"] == "3栋2单元"
    assert out[1]["urgent"] is True
    assert out[3]["intent"] == "rate"


def test_classify_stdin_and_bad_lines(app):
    stdin = (
        '{"id": 7, "text": "垃圾没人收"}\nnot json at all 路灯不亮\n\n'
        '{"id": 8, "title": "井盖", "text": "井盖没了"}\n'
    )
    r = CliRunner().invoke(app, ["classify"], input=stdin)
    assert r.exit_code == 0, r.output
    out = [json.loads(line) for line in r.stdout.splitlines() if line.strip().startswith("{")]
    assert [o["id"] for o in out] == [7, 2, 8]
    assert out[0]["category"] == "environment"
    assert out[1]["category"] == "facility"
    assert out[2]["category"] == "facility"


def test_mine_then_eval_then_classify_with_rules(app, tmp_path):
    train = _jsonl(tmp_path / "train.jsonl", [{"id": i, "text": t, "label": lab} for i, (t, lab) in
                                               enumerate(TRAIN)])
    test = _jsonl(tmp_path / "test.jsonl", [{"id": i, "title": "", "text": t, "label": lab} for i, (t, lab) in
                                            enumerate(TEST)])
    rules = tmp_path / "out" / "mined.toml"
    runner = CliRunner()
    r = runner.invoke(app, ["nlp", "mine", str(train), "--out", str(rules), "--per-label", "5",
                            "--min-df", "1", "--iterations", "60"])
    assert r.exit_code == 0, r.output
    rs = load_rules_file(rules)
    assert set(rs.codes) == {"教育", "交通", "卫生"}
    text = rules.read_text(encoding="utf-8")
    assert '"学校"' in text or '"学生"' in text

    report = tmp_path / "report.json"
    r = runner.invoke(app, ["nlp", "eval", str(test), "--rules", str(rules), "--json", str(report)])
    assert r.exit_code == 0, r.output
    assert "macro-F1" in r.stdout and "accuracy" in r.stdout
    assert "confusion matrix" in r.stdout
    fig = json.loads(report.read_text(encoding="utf-8"))
    assert fig["n"] == 4
    assert fig["accuracy"] >= 0.75
    assert set(fig["per_label"]) >= {"教育", "交通", "卫生"}

    f = _jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": "医院看病挂号太难"}])
    r = runner.invoke(app, ["classify", str(f), "--rules", str(rules)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.splitlines()[0])["category"] == "卫生"


def test_eval_default_rules_on_dev_style_file(app, tmp_path):
    test = _jsonl(tmp_path / "t.jsonl", [
        {"text": "楼道灯不亮", "label": "property"},
        {"text": "垃圾三天没人收", "label": "environment"},
        {"text": "小区门口乱停车", "label": "traffic"},
    ])
    r = CliRunner().invoke(app, ["nlp", "eval", str(test)])
    assert r.exit_code == 0, r.output
    assert "accuracy: 1.0000" in r.stdout


def test_bad_rules_file_is_reported(app, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[meta]\nmin_score = \n", encoding="utf-8")
    f = _jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": "x"}])
    r = CliRunner().invoke(app, ["classify", str(f), "--rules", str(bad)])
    assert r.exit_code == 2
    assert "line 2" in r.output


def test_eval_rejects_unlabelled_file(app, tmp_path):
    f = _jsonl(tmp_path / "t.jsonl", [{"text": "x"}])
    r = CliRunner().invoke(app, ["nlp", "eval", str(f)])
    assert r.exit_code == 2


def test_classify_outputs_the_service(app, tmp_path):
    f = _jsonl(tmp_path / "in.jsonl", [
        {"id": 1, "text": "我爸瘫在床上 能不能派人上门理个发"},
        {"id": 2, "text": "厨房的水槽堵了 水下不去"},
        {"id": 3, "text": "小区门口的垃圾三天没人收"},
        {"id": 4, "text": "我要点单"},
    ])
    r = CliRunner().invoke(app, ["classify", str(f)])
    assert r.exit_code == 0, r.output
    out = {o["id"]: o for o in map(json.loads, r.stdout.splitlines())}
    assert (out[1]["intent"], out[1]["service"]) == ("service", "理发")
    assert (out[2]["intent"], out[2]["service"]) == ("service", "水电小修")
    assert (out[3]["intent"], out[3]["service"]) == ("report", None)
    assert (out[4]["intent"], out[4]["service"]) == ("service", None)  # the bot shows the menu


def test_eval_resident_file_prints_all_four(app, tmp_path):
    f = _jsonl(tmp_path / "r.jsonl", [
        {"text": "楼道灯不亮", "intent": "report", "category": "property", "urgent": False, "service": None},
        {"text": "厨房一股煤气味", "intent": "report", "category": "safety", "urgent": True, "service": None},
        {"text": "想理个发", "intent": "service", "category": None, "urgent": False, "service": "理发"},
    ])
    report = tmp_path / "fig.json"
    r = CliRunner().invoke(app, ["nlp", "eval", str(f), "--json", str(report)])
    assert r.exit_code == 0, r.output
    for word in ("intent accuracy", "category accuracy (reports)", "urgent P/R", "service accuracy",
                 "confusion matrix"):
        assert word in r.stdout
    fig = json.loads(report.read_text(encoding="utf-8"))
    assert fig["intent_accuracy"] == 1.0 and fig["service_accuracy"] == 1.0


def test_mine_with_character_pairs_writes_a_bigram_rules_file_that_classifies(app, tmp_path):
    train = _jsonl(tmp_path / "train.jsonl", [{"id": i, "text": t, "label": lab} for i, (t, lab) in
                                               enumerate(TRAIN)])
    rules = tmp_path / "pairs.toml"
    r = CliRunner().invoke(app, ["nlp", "mine", str(train), "--out", str(rules), "--features", "bigram",
                                 "--per-label", "0", "--min-df", "1", "--iterations", "60"])
    assert r.exit_code == 0, r.output
    assert 'match = "bigram"' in rules.read_text(encoding="utf-8")
    f = _jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": "医院看病挂号太难"}])
    r = CliRunner().invoke(app, ["classify", str(f), "--rules", str(rules)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.splitlines()[0])["category"] == "卫生"
    r = CliRunner().invoke(app, ["nlp", "mine", str(train), "--out", str(rules), "--features", "trigram"])
    assert r.exit_code == 2 and "token or bigram" in r.output
