# syntax=docker/dockerfile:1
# botkit in a container: a bot in sim mode by default, its state on the /data volume, the
# status page, /metrics and /healthz on port 9108 (docs/deploy.md: build, run, compose,
# multi-arch with buildx). tests/monitor/test_deploy_files.py checks this file's paths.
#
#   docker build -t botkit .
#   docker run -d --name botkit -e BOTKIT_HTTP__TOKEN=<long random string> \
#       -v botkit-data:/data -p 127.0.0.1:9108:9108 botkit

ARG PYTHON_VERSION=3.11

# ---- builder: a venv with botkit and its dependencies; the book kernel compiled ---------
FROM python:${PYTHON_VERSION}-slim-bookworm AS builder

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md LICENSE ./
COPY strategies/ strategies/
COPY botkit/ botkit/
# a wheel build (Cython comes in through the build isolation), then an ordinary install
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --no-deps --wheel-dir /wheels . \
    && pip install /wheels/botkit-*.whl

# the image must trade with the compiled level loop, not the Python fallback (docs/feed.md)
WORKDIR /
RUN python -c "from botkit.market.book import kernel_in_use; assert kernel_in_use(), 'book kernel not built'"


# ---- runtime: no compiler, a non-root user, state on a volume ------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm

RUN groupadd --system --gid 10001 botkit \
    && useradd --system --uid 10001 --gid botkit --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin botkit \
    && mkdir -p /data \
    && chown botkit:botkit /data

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY strategies/ /app/strategies/
# the config the bot runs (mount your own over it: -v ./bot.toml:/etc/botkit/bot.toml:ro)
COPY examples/bot.toml /etc/botkit/bot.toml

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BOTKIT_HTTP__LISTEN=0.0.0.0:9108
# BOTKIT_HTTP__LISTEN off loopback needs BOTKIT_HTTP__TOKEN (a long random string): without
# it the bot refuses to start (exit 2). Pass it at run time, never bake it into the image.

# journal, kill switch, strategy state, health.json (sim mode: /data/sim)
VOLUME ["/data"]
EXPOSE 9108
USER 10001:10001

# slim has no curl: the check is Python's urllib (exit 1 on an error or a non-2xx answer)
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4)"]

# SIGTERM is the graceful stop (on_stop, --cancel-on-exit, journal closed): give it time,
# docker stop -t 60 / compose stop_grace_period: 60s (every shutdown step is bounded)
STOPSIGNAL SIGTERM
ENTRYPOINT ["botkit"]
CMD ["run", "--config", "/etc/botkit/bot.toml", "--data-dir", "/data", "--cancel-on-exit"]
