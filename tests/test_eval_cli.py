"""`deblurkit eval` / `bench`: pairing rules, reports that parse, missing weights, contact sheets."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from deblurkit.errors import DeblurkitError
from deblurkit.eval.bench import discover
from deblurkit.eval.pairing import pair_files
from deblurkit.io import read_image, write_image, write_kernel
from deblurkit.viz import SheetRow, contact_sheet


def smooth(rng, h=48, w=52):
    img = gaussian_filter(rng.random((h, w)), 1.5)
    return ((img - img.min()) / (img.max() - img.min()))[:, :, None]


def kernel(n):
    k = np.zeros((7, 7), np.float32)
    k[3, 1 : 2 + n] = 1
    k[2, 1] = 0.5  # asymmetric: the 180° rotation is not a shifted copy
    return k / k.sum()


@pytest.fixture
def levin_tree(tmp_path, rng):
    """A tiny Levin layout: 2 images × 2 kernels, and a 'deblurred' folder with kernels."""
    data, pred = tmp_path / "levin", tmp_path / "pred"
    (data / "gt").mkdir(parents=True)
    pred.mkdir()
    for m in (1, 2):
        gt = smooth(rng)
        write_image(data / "gt" / f"im{m}.png", gt)
        for n in (1, 2):
            noisy = np.clip(gt + 0.03 * rng.standard_normal(gt.shape), 0, 1)
            write_image(data / f"im{m}_kernel{n}_img.png", noisy)
            write_image(pred / f"im{m}_kernel{n}_img.png", np.roll(noisy, 1, axis=1))
            np.save(pred / f"im{m}_kernel{n}_img_kernel.npy", kernel(n)[::-1, ::-1])
    for n in (1, 2):
        write_kernel(data / "gt" / f"kernel{n}.png", kernel(n))
    (data / "notes.txt").write_text("not an image")
    return data, pred


# --- pairing -----------------------------------------------------------------------------------------


def test_levin_pairing(levin_tree):
    data, pred = levin_tree
    write_image(pred / "stray.png", np.zeros((4, 4, 1)))
    pairs, skipped = pair_files(pred, data / "gt", "levin", pred, data / "gt")
    assert [p.key for p in pairs] == ["im1_kernel1_img", "im1_kernel2_img", "im2_kernel1_img", "im2_kernel2_img"]
    assert [p.group for p in pairs] == ["kernel1", "kernel2", "kernel1", "kernel2"]
    assert pairs[2].gt.name == "im2.png" and pairs[1].gt_kernel.name == "kernel2.png"
    assert pairs[1].pred_kernel.name == "im1_kernel2_img_kernel.npy"
    assert [p.name for p in skipped] == ["stray.png"]


def test_lai_pairing_and_selfdeblur_names(tmp_path):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir(), gt.mkdir()
    for name in ("manmade_01_kernel_01_x", "text_02_kernel_04_x"):
        write_image(pred / f"{name}.png", np.zeros((4, 4, 3)))
        write_kernel(pred / f"{name[:-2]}_k.png", kernel(1))
    for name in ("manmade_01", "text_02", "kernel_01", "kernel_04"):
        write_image(gt / f"{name}.png", np.zeros((4, 4, 3)))
    pairs, skipped = pair_files(pred, gt, "lai", pred, gt)
    assert not skipped
    assert [(p.key, p.gt.name, p.group, p.gt_kernel.name, p.pred_kernel.name) for p in pairs] == [
        ("manmade_01_kernel_01_x", "manmade_01.png", "manmade", "kernel_01.png", "manmade_01_kernel_01_k.png"),
        ("text_02_kernel_04_x", "text_02.png", "text", "kernel_04.png", "text_02_kernel_04_k.png"),
    ]


def test_same_and_custom_rules(tmp_path):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir(), gt.mkdir()
    for name in ("a_blur3", "b_blur10", "a_blur3_kernel"):
        write_image(pred / f"{name}.png", np.zeros((4, 4, 1)))
    for name in ("a", "b", "a_blur3", "b_blur10"):
        write_image(gt / f"{name}.jpg", np.zeros((4, 4, 1)))
    same, _ = pair_files(pred, gt, "same")
    assert [(p.key, p.gt.name) for p in same] == [("a_blur3", "a_blur3.jpg"), ("b_blur10", "b_blur10.jpg")]
    custom, _ = pair_files(pred, gt, r"(?P<gt>[a-z])_(?P<group>blur\d+)")
    assert [(p.gt.name, p.group) for p in custom] == [("a.jpg", "blur3"), ("b.jpg", "blur10")]


def test_pairing_errors(levin_tree, tmp_path):
    data, pred = levin_tree
    (data / "gt" / "im2.png").unlink()
    with pytest.raises(DeblurkitError, match=r"no ground truth for im2_kernel1_img.png"):
        pair_files(pred, data / "gt", "levin")
    with pytest.raises(DeblurkitError, match="no images following the lai naming rule"):
        pair_files(pred, None, "lai")
    with pytest.raises(DeblurkitError, match="--gt-kernels needs --pred-kernels"):
        pair_files(pred, None, "levin", gt_kernels=pred)
    # estimated kernels alone (no-reference sheets): paired, no true kernel
    pairs, _ = pair_files(pred, None, "levin", pred_kernels=pred)
    assert all(p.pred_kernel is not None and p.gt_kernel is None for p in pairs)
    with pytest.raises(DeblurkitError, match="no such folder"):
        pair_files(tmp_path / "nope", None)
    with pytest.raises(DeblurkitError, match="valid regular expression"):
        pair_files(pred, None, "(?P<gt>")


def test_bench_layout_discovery(levin_tree, tmp_path):
    data, _ = levin_tree
    items = discover("levin", data)
    assert len(items) == 4 and items[0].gt.name == "im1.png" and items[3].gt_kernel.name == "kernel2.png"
    with pytest.raises(DeblurkitError, match="not in the lai layout"):
        discover("lai", data)
    assert [it.key for it in discover("folder", data / "gt")] == ["im1", "im2", "kernel1", "kernel2"]


# --- eval command ----------------------------------------------------------------------------------------


def test_eval_levin_reports_parse_and_rerun_skips(cli, levin_tree, tmp_path):
    data, pred = levin_tree
    out = tmp_path / "reports" / "levin"
    args = ["eval", "--pred", pred, "--gt", data / "gt", "--protocol", "levin", "--pred-kernels", pred,
            "--gt-kernels", data / "gt", "--blurry", data, "--sheet", tmp_path / "sheet.png", "-o", out, "-q"]
    r = cli(*args)
    assert r.code == 0, r.output
    rows = list(csv.DictReader((tmp_path / "reports" / "levin.csv").open()))
    assert len(rows) == 4 and rows[0]["image"] == "im1_kernel1_img" and rows[0]["group"] == "kernel1"
    assert {"PSNR", "SSIM", "MNC", "KERNEL_L1", "KERNEL_L2", "shift_x", "shift_y", "kernel_flipped"} <= set(rows[0])
    assert all(abs(float(row["shift_x"]) - 1) <= 0.25 and float(row["MNC"]) == pytest.approx(1.0) for row in rows)
    assert all(row["kernel_flipped"] == "True" for row in rows)

    def no_constants(x):
        raise AssertionError(f"non-standard JSON constant {x}")

    doc = json.loads((tmp_path / "reports" / "levin.json").read_text(), parse_constant=no_constants)
    assert doc["protocol"] == "levin" and doc["maxshift"] == 10 and doc["overall"]["n"] == 4
    assert set(doc["groups"]) == {"kernel1", "kernel2"} and doc["groups"]["kernel1"]["n"] == 2
    assert doc["overall"]["PSNR"] == pytest.approx(np.mean([float(r["PSNR"]) for r in rows]))
    md = (tmp_path / "reports" / "levin.md").read_text()
    tables = [line for line in md.splitlines() if line.startswith("|")]
    assert len(tables) == (2 + 1) + (2 + 2) + (2 + 4)  # overall, groups, images (header + rule + rows)
    assert all(line.count("|") == tables[0].count("|") for line in tables[:3])
    sheet, _ = read_image(tmp_path / "sheet.png")
    assert sheet.shape[2] == 3 and sheet.shape[0] > 4 * 48
    # re-run: skipped; --overwrite redoes it
    before = (tmp_path / "reports" / "levin.csv").stat().st_mtime_ns
    r = cli(*args[:-1])
    assert r.code == 0 and "skipping" in r.output
    assert (tmp_path / "reports" / "levin.csv").stat().st_mtime_ns == before
    assert cli(*args, "--overwrite").code == 0


def test_eval_identical_images_give_inf_psnr_and_null_json(cli, levin_tree, tmp_path):
    data, _ = levin_tree
    r = cli("eval", "--pred", data, "--gt", data / "gt", "-p", "levin", "--pair", r"(?P<gt>im\d)_kernel\d_img", "-o", tmp_path / "r", "-q")
    assert r.code == 0, r.output
    r = cli("eval", "--pred", data / "gt", "--gt", data / "gt", "-p", "levin", "--pair",
            r"(?P<gt>im\d)", "-o", tmp_path / "same.json", "-q")
    assert r.code == 0, r.output
    doc = json.loads((tmp_path / "same.json").read_text())
    assert doc["overall"]["PSNR"] is None and doc["images"][0]["SSIM"] == pytest.approx(1.0)
    assert "inf" in (tmp_path / "same.csv").read_text()


def test_missing_weights_message_while_others_complete(cli, levin_tree, tmp_path, monkeypatch):
    import torch
    from pyiqa.utils import download_util

    monkeypatch.setattr(download_util, "DEFAULT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    from deblurkit.metrics import nr_params

    monkeypatch.setattr(nr_params, "packaged_file", lambda source: None)
    data, _ = levin_tree
    r = cli("eval", "--pred", data / "gt", "--metrics", "NIQE,PIQE", "--pair", r"(?P<gt>im\d)", "-o", tmp_path / "nr", "-q")
    assert r.code == 1
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "niqe_modelparameters.mat" in errors[0] and str(tmp_path / "cache") in errors[0]
    assert "Traceback" not in r.output
    rows = list(csv.DictReader((tmp_path / "nr.csv").open()))
    assert len(rows) == 2 and "NIQE" not in rows[0] and math.isfinite(float(rows[0]["PIQE"]))
    assert "NIQE" in json.loads((tmp_path / "nr.json").read_text())["unavailable"]


def test_eval_bad_input_is_one_line(cli, levin_tree, tmp_path):
    data, pred = levin_tree
    write_image(pred / "im1_kernel1_img.png", np.zeros((40, 40, 1)))
    r = cli("eval", "--pred", pred, "--gt", data / "gt", "-p", "levin", "-o", tmp_path / "x", "-q")
    assert r.code == 1 and re.fullmatch(r"error: im1_kernel1_img.png is 40×40 but its ground truth im1.png is 48×52", r.output.strip())
    r = cli("eval", "--pred", pred, "-p", "levin", "-o", tmp_path / "x")
    assert r.code == 1 and r.output.strip() == "error: --protocol levin needs --gt"
    r = cli("eval", "--pred", pred, "--gt", data / "gt", "-p", "levin", "-m", "PSNR,MNC", "-o", tmp_path / "x")
    assert r.code == 1 and "kernel metrics" in r.output


# --- bench -----------------------------------------------------------------------------------------------


def test_bench_validates_the_layout(cli, levin_tree, tmp_path):
    data, _ = levin_tree
    r = cli("bench", "lai", "--data", data, "-o", tmp_path / "run")
    assert r.code == 1 and r.output.startswith("error:") and "lai layout" in r.output


def test_bench_evaluates_an_existing_run(cli, levin_tree, tmp_path):
    data, pred = levin_tree
    run = tmp_path / "run"
    r = cli("bench", "levin", "--data", data, "--pred", pred, "-o", run, "-q")
    assert r.code == 0, r.output
    assert {p.name for p in run.iterdir()} == {"bench.json", "report.csv", "report.json", "report.md", "sheet.png"}
    doc = json.loads((run / "report.json").read_text())
    assert doc["layout"] == "levin" and [m["name"] for m in doc["metrics"]] == ["PSNR", "SSIM", "MNC", "KERNEL_L1", "KERNEL_L2"]
    r = cli("bench", "levin", "--data", data, "--pred", pred, "-o", run)
    assert r.code == 0 and "skipping" in r.output
    (pred / "im2_kernel2_img.png").unlink()
    r = cli("bench", "levin", "--data", data, "--pred", pred, "-o", tmp_path / "run2")
    assert r.code == 1 and "1 of 4 inputs have no deblurred image" in r.output


def test_bench_synth_layout_groups_by_kernel_size(cli, levin_tree, tmp_path):
    """A synth-set folder (blurry/, gt/, kernels/, manifest.json) is scored per kernel size."""
    src, pred = levin_tree
    data = tmp_path / "synth"
    for d in ("blurry", "gt", "kernels"):
        (data / d).mkdir(parents=True)
    names = {"im1_kernel1_img": 31, "im2_kernel2_img": 55}
    for name, size in names.items():
        shutil.copy(src / f"{name}.png", data / "blurry" / f"{name}.png")
        shutil.copy(src / "gt" / f"{name[:3]}.png", data / "gt" / f"{name}.png")
        write_kernel(data / "kernels" / f"{name}.png", kernel(int(name[10])))
    manifest = {"images": [{"name": n, "kernel_size": s} for n, s in names.items()]}
    (data / "manifest.json").write_text(json.dumps(manifest))
    items = discover("synth", data)
    assert [(it.key, it.group, it.gt_kernel.name) for it in items] == [
        ("im1_kernel1_img", "31px", "im1_kernel1_img.png"), ("im2_kernel2_img", "55px", "im2_kernel2_img.png")]
    run = tmp_path / "run"
    r = cli("bench", "synth", "--data", data, "--pred", pred, "-o", run, "-q")
    assert r.code == 0, r.output
    rows = list(csv.DictReader((run / "report.csv").open()))
    assert [r["group"] for r in rows] == ["31px", "55px"] and all(float(r["PSNR"]) > 20 for r in rows)
    assert "55px" in (run / "report.md").read_text()
    (data / "gt" / "im2_kernel2_img.png").unlink()
    with pytest.raises(DeblurkitError, match="no ground truth for im2_kernel2_img.png"):
        discover("synth", data)


# --- contact sheet ---------------------------------------------------------------------------------------


def test_contact_sheet_layout_and_insets():
    img = np.full((50, 100, 1), 0.5, np.float32)
    rows = [SheetRow([img, img, None], [None, kernel(2), kernel(1)], "a"), SheetRow([img, img, None], [None, None, None], "b")]
    sheet = contact_sheet(rows, titles=["blurry", "deblurred", "gt"], height=40, gap=4)
    # third column is empty everywhere → dropped; two panels of 80 px + 3 gaps
    assert sheet.shape == (20 + 2 * (20 + 40 + 8), 2 * 80 + 3 * 4, 3)
    first_panel = sheet[20 + 20 + 4 : 20 + 20 + 4 + 40, 4 + 80 + 4 : 4 + 80 + 4 + 80]
    assert first_panel.max() == pytest.approx(1.0)  # the inset kernel's white frame / peak
    with pytest.raises(ValueError):
        contact_sheet([])


def test_plain_protocol_uses_pyiqa_without_alignment(cli, levin_tree, tmp_path):
    data, pred = levin_tree
    assert cli("eval", "--pred", pred, "--gt", data / "gt", "--pair", "levin", "-o", tmp_path / "plain", "-q").code == 0
    assert cli("eval", "--pred", pred, "--gt", data / "gt", "-p", "levin", "-o", tmp_path / "aligned", "-q").code == 0
    plain = json.loads((tmp_path / "plain.json").read_text())
    aligned = json.loads((tmp_path / "aligned.json").read_text())
    assert plain["protocol"] == "plain" and plain["maxshift"] is None and "shift_x" not in plain["images"][0]
    assert plain["overall"]["PSNR"] < aligned["overall"]["PSNR"] - 3  # the 1-px shift costs a lot unaligned
