# syntax=docker/dockerfile:1
# The salesagents image: API (default command), Celery worker and beat, migrations, the CLI.
#   docker build -t salesagents:latest .
# The model-server image also carries llama-cpp-python (compiled here, ~4 min on 2 cores):
#   docker build --build-arg WITH_LLAMA=true -t salesagents-llm:latest .
# docker-compose.yml builds both; docs/DEPLOYMENT.md explains the services.

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: a virtualenv under /opt/venv with the dependencies and the package ----
FROM ${PYTHON_IMAGE} AS build
# PyPI's Linux torch wheels pull several GB of CUDA libraries; the CPU build comes from this index.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY deploy/requirements.py deploy/requirements.py
# Dependencies first, in their own layers, so a code change does not reinstall them; torch before WITH_LLAMA,
# so both images share that layer.
RUN python deploy/requirements.py --torch > /tmp/torch.txt \
    && pip install --index-url "$TORCH_INDEX_URL" -r /tmp/torch.txt
ARG WITH_LLAMA=false
# A compiler only for llama-cpp-python, which has no wheels.
RUN if [ "$WITH_LLAMA" = "true" ]; then \
        apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
        && rm -rf /var/lib/apt/lists/*; \
    fi
# The default llama.cpp build segfaults on CPUs with AMX (its native code path): build it portable.
RUN if [ "$WITH_LLAMA" = "true" ]; then LLAMA_FLAG=--with-llama; else LLAMA_FLAG=; fi \
    && python deploy/requirements.py $LLAMA_FLAG > /tmp/requirements.txt \
    && CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --no-binary llama-cpp-python -r /tmp/requirements.txt
COPY core core
COPY agents agents
COPY tools tools
COPY api api
COPY prompts prompts
COPY evals evals
COPY web web
# Checked from / so the installed package is imported, not /src: migrations and prompt files must be in it.
RUN pip install --no-deps . \
    && cd / && python -c "from core.db.migrate import MIGRATIONS; from prompts.registry import root; \
assert (MIGRATIONS / 'env.py').is_file() and any((MIGRATIONS / 'versions').glob('0001_*.py')), MIGRATIONS; \
assert any(root().glob('*/*.md.j2')), root(); import api.cli.main, agents.celery_app"

# ---- runtime: the virtualenv on a clean slim image, run as an unprivileged user ----
FROM ${PYTHON_IMAGE} AS runtime
# libgomp: OpenMP runtime of LightGBM and llama.cpp.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 salesagents \
    && useradd --system --uid 10001 --gid salesagents --create-home --home-dir /home/salesagents salesagents \
    && mkdir -p /data /app \
    && chown salesagents:salesagents /data /app
COPY --from=build /opt/venv /opt/venv
# SALESAGENTS_DATA_DIR: the default lies beside the code, in site-packages; /data is a volume in compose.
# HF_HUB_OFFLINE: the embedding model ships inside its wheel; nothing is fetched at run time.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    SALESAGENTS_DATA_DIR=/data
WORKDIR /app
USER salesagents
EXPOSE 8000
CMD ["uvicorn", "--factory", "api.app:create_app", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
