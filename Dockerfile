# The Cloze pipeline image: what `cloze compile --target kubeflow --image IMAGE` names.
# Every step (TFX components, the Trainer, the Evaluator and Pusher) runs in it, with the
# exact pins of constraints.txt.
#
#   docker build -t cloze:0.1.0 .
#   cloze compile --target kubeflow --image cloze:0.1.0 --pipeline-root gs://bucket/cloze \
#       --corpus gs://bucket/texts/
FROM python:3.10-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /pipeline

# Dependencies first, so a code change does not reinstall them.
COPY constraints.txt pyproject.toml README.md ./
RUN mkdir cloze && touch cloze/__init__.py \
    && pip install -c constraints.txt . \
        "kfp==2.5.0" "kfp-pipeline-spec==0.2.2" \
    && pip uninstall -y cloze && rm -rf cloze build *.egg-info

COPY cloze ./cloze
RUN pip install --no-deps -c constraints.txt . && python -c "import cloze.pipeline.pipeline"

# The KFP v2 launcher sets the command per step; this default shows the CLI.
ENTRYPOINT []
CMD ["cloze", "--help"]
