FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home webauto
WORKDIR /app
COPY pyproject.toml ./
COPY webauto ./webauto
COPY orchestration ./orchestration
COPY templates_app ./templates_app
COPY monitoring ./monitoring
COPY scheduling ./scheduling
COPY resources ./resources
COPY webflows ./webflows
RUN pip install --no-cache-dir .
COPY . .
RUN mkdir -p /app/var && chown -R webauto /app/var
USER webauto
EXPOSE 8000
CMD ["gunicorn", "webauto.wsgi", "-b", "0.0.0.0:8000", "-w", "3", "--threads", "4"]
