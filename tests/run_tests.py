#!/usr/bin/python3
"""Runs every test of the suite against a built tree and sums the results.

Used by ./check. Runs the GoogleTest unit binaries (tests/*_test in the build
folder), the pytest integration tests (tests/integration) and each libFuzzer
target briefly on its seed corpus. Prints one line per group, then the last
line "N passed, N failed"; exits 1 when anything failed.
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET


def count_junit(path):
    """(passed, failed, skipped) from a GoogleTest or pytest JUnit XML file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    passed = failed = skipped = 0
    for suite in suites:
        for case in suite.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
            elif case.find("skipped") is not None or case.get("result") == "skipped":
                skipped += 1
            else:
                passed += 1
    return passed, failed, skipped


def run_unit(build, results):
    passed = failed = 0
    for binary in sorted(glob.glob(os.path.join(build, "tests", "*_test"))):
        name = os.path.basename(binary)
        xml = os.path.join(results, name + ".xml")
        proc = subprocess.run([binary, "--gtest_output=xml:" + xml], cwd=build,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        if not os.path.exists(xml):
            print(proc.stdout[-4000:])
            print(f"{name}: crashed before writing results ({proc.returncode})")
            failed += 1
            continue
        p, f, _ = count_junit(xml)
        if proc.returncode != 0 and f == 0:
            f = 1  # it failed without saying which test (a crash in teardown)
        if f:
            print("\n".join(l for l in proc.stdout.splitlines() if "Failure" in l or "FAILED" in l or ".cpp:" in l)[-6000:])
        print(f"unit {name}: {p} passed, {f} failed")
        passed += p
        failed += f
    return passed, failed


def run_pytest(src, build, results, selection):
    xml = os.path.join(results, "integration.xml")
    env = dict(os.environ, SUITE_SRC=src, SUITE_BUILD=build)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml=" + xml,
           "-o", "junit_family=xunit2", os.path.join(src, "tests", "integration")] + selection
    proc = subprocess.run(cmd, cwd=src, env=env)
    if not os.path.exists(xml):
        print(f"pytest did not run ({proc.returncode})")
        return 0, 1
    p, f, s = count_junit(xml)
    if proc.returncode not in (0, 5) and f == 0:
        f = 1
    print(f"integration: {p} passed, {f} failed, {s} skipped")
    return p, f


def run_fuzz(src, build, seconds):
    passed = failed = 0
    for binary in sorted(glob.glob(os.path.join(build, "tests", "fuzz", "fuzz_*"))):
        if not os.access(binary, os.X_OK) or binary.endswith((".o", ".cpp")):
            continue
        name = os.path.basename(binary)[len("fuzz_"):]
        seeds = os.path.join(src, "tests", "fuzz", "corpus", name)
        with tempfile.TemporaryDirectory() as work:
            corpus = os.path.join(work, "corpus")
            shutil.copytree(seeds, corpus) if os.path.isdir(seeds) else os.mkdir(corpus)
            proc = subprocess.run([binary, f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=2048",
                                   "-print_final_stats=0", corpus], cwd=work,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        ok = proc.returncode == 0
        if not ok:
            print(proc.stdout[-6000:])
        print(f"fuzz {name}: {'passed' if ok else 'FAILED'} ({seconds}s)")
        passed += ok
        failed += not ok
    return passed, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--fuzz-seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "20")))
    ap.add_argument("--only", choices=["unit", "integration", "fuzz"])
    ap.add_argument("pytest_args", nargs="*")
    args, extra = ap.parse_known_args()
    args.pytest_args += extra
    src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    build = os.path.abspath(args.build)
    results = os.path.join(build, "test-results")
    os.makedirs(results, exist_ok=True)
    totals = [0, 0]
    groups = {
        "unit": lambda: run_unit(build, results),
        "integration": lambda: run_pytest(src, build, results, args.pytest_args),
        "fuzz": lambda: run_fuzz(src, build, args.fuzz_seconds),
    }
    for name, run in groups.items():
        if args.only and args.only != name:
            continue
        p, f = run()
        totals[0] += p
        totals[1] += f
    print(f"{totals[0]} passed, {totals[1]} failed")
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main())
