"""Replays the repository's Dockerfile on this machine, without Docker, then checks the result.

For machines with no Docker daemon (like this project's): each instruction runs
as the image build would run it, in a scratch directory standing in for the
image's root, with a fresh virtual environment of the local Python standing in
for the ``python:X.Y-slim`` base image:

* ``FROM python:X.Y...``: ``pythonX.Y -m venv``, whose ``bin/`` leads ``PATH``;
* ``ENV``: sets the variables; ``WORKDIR``: creates and enters the directory;
* ``COPY``: copies the named paths from ``git archive HEAD`` (committed files
  only, as a clean clone would have them, and ``.dockerignore`` honoured);
* ``RUN``: runs the command with ``bash -c``; a failure stops the replay.

Then, as the Kubeflow pipeline steps would use the image: ``CMD``, ``pip check``,
``cloze compile --target kubeflow`` of a one-file corpus, and an import of TFX's
Kubeflow V2 executor entry point. What this does not prove: the base image's
system libraries (the venv uses this machine's), and the layer cache.

    python3 tools/replay_dockerfile.py [--work /tmp/cloze-dockerfile] \
        [--python ~/.pyenv/versions/3.10.13/bin/python3.10]
"""
import argparse
import fnmatch
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def instructions(path: str) -> list:
    """``(keyword, arguments)`` of each instruction, continuation lines joined, comments dropped."""
    with open(path) as f:
        lines = [line for line in f if not line.lstrip().startswith("#")]
    text = re.sub(r"\\\n", " ", "".join(lines))
    return [tuple(line.strip().split(None, 1)) for line in text.splitlines() if line.strip()]


def committed_tree(destination: str) -> None:
    """The committed files (``git archive HEAD``) less ``.dockerignore``'s patterns."""
    archive = subprocess.run(["git", "-C", ROOT, "archive", "HEAD"], check=True,
                             capture_output=True).stdout
    ignored = []
    if os.path.exists(os.path.join(ROOT, ".dockerignore")):
        with open(os.path.join(ROOT, ".dockerignore")) as f:
            ignored = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = [m for m in tar.getmembers()
                   if not any(fnmatch.fnmatch(m.name, p) or m.name.startswith(p.rstrip("/") + "/")
                              for p in ignored)]
        tar.extractall(destination, members)


def replay(dockerfile: str, work: str, python: str = "") -> dict:
    """Runs the instructions; returns the environment and working directory they leave."""
    context, image = os.path.join(work, "context"), os.path.join(work, "image")
    marker = os.path.join(work, ".replay_dockerfile")
    if os.path.isdir(work) and os.listdir(work) and not os.path.exists(marker):
        raise SystemExit(f"--work {work} is not empty and not an earlier replay's; "
                         "expected a new or empty directory")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(image)
    open(marker, "w").close()
    committed_tree(context)
    env, cwd, cmd = dict(os.environ), image, None
    for keyword, arguments in instructions(dockerfile):
        keyword = keyword.upper()
        print(f"--> {keyword} {arguments}", flush=True)
        if keyword == "FROM":
            version = re.match(r"python:(\d+\.\d+)", arguments).group(1)
            venv = os.path.join(work, "venv")
            subprocess.run([python or f"python{version}", "-m", "venv", venv], check=True)
            env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env["PATH"]
            env["VIRTUAL_ENV"] = venv
        elif keyword == "ENV":
            for assignment in shlex.split(arguments):
                if "=" not in assignment:
                    raise SystemExit(f"{dockerfile}: ENV {arguments!r}: expected NAME=value "
                                     "pairs (the legacy 'ENV NAME value' form is not replayed)")
                name, value = assignment.split("=", 1)
                env[name] = value
        elif keyword == "WORKDIR":
            cwd = os.path.join(image, arguments.lstrip("/"))
            os.makedirs(cwd, exist_ok=True)
        elif keyword == "COPY":
            *sources, target = shlex.split(arguments)
            for source in sources:
                origin = os.path.join(context, source)
                destination = os.path.join(cwd, target)
                if os.path.isdir(origin):
                    shutil.copytree(origin, destination if not target.endswith("/")
                                    else os.path.join(destination, source), dirs_exist_ok=True)
                else:
                    shutil.copy(origin, destination)
        elif keyword == "RUN":
            subprocess.run(["bash", "-c", arguments], cwd=cwd, env=env, check=True)
        elif keyword == "CMD":
            cmd = json.loads(arguments)
        elif keyword != "ENTRYPOINT":
            raise SystemExit(f"{dockerfile}: instruction {keyword} is not replayed by this tool")
    return {"env": env, "cwd": cwd, "cmd": cmd}


def check(image: dict, work: str) -> None:
    """What the pipeline steps need from the image: the CLI, the pins, a compile, the executor."""
    corpus = os.path.join(work, "corpus")
    os.makedirs(corpus)
    with open(os.path.join(corpus, "a.txt"), "w") as f:
        f.write("A sentence to compile against.\n")
    spec = os.path.join(work, "pipeline.json")
    checks = [
        image["cmd"],
        ["pip", "check"],
        ["cloze", "compile", "--target", "kubeflow", "--image", "cloze:replayed",
         "--pipeline-root", os.path.join(work, "root"), "--corpus", corpus, "--output", spec],
        ["python", "-c", "import tfx.orchestration.kubeflow.v2.container."
                         "kubeflow_v2_run_executor"],
    ]
    for command in checks:
        print(f"--> check: {' '.join(command)}", flush=True)
        subprocess.run(command, cwd=image["cwd"], env=image["env"], check=True,
                       stdout=subprocess.DEVNULL)
    with open(spec) as f:
        executors = json.load(f)["pipelineSpec"]["deploymentSpec"]["executors"]
    images = {e["container"]["image"] for e in executors.values() if "container" in e}
    assert images == {"cloze:replayed"}, images
    print(f"ok: {len(executors)} executors, every container on the image")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/cloze-dockerfile")
    parser.add_argument("--python", default="", help="the interpreter standing in for the "
                        "base image (default: pythonX.Y on PATH, X.Y from FROM)")
    args = parser.parse_args()
    image = replay(os.path.join(ROOT, "Dockerfile"), args.work, args.python)
    check(image, args.work)


if __name__ == "__main__":
    sys.exit(main())
