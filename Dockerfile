# One image for every Python process of the stack: migrate, worker, studio, jupyter.
# The 3.13 line's newest patch release at build time (security fixes arrive with a rebuild);
# the outbound guard keeps its own table of special-purpose addresses, so it does not depend on
# which patch this is.
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    VISUALIZER_HOME=/data

WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
COPY visualizer_core ./visualizer_core
COPY visualizer_cli ./visualizer_cli
COPY workers ./workers
COPY streamlit_app ./streamlit_app
# The versions of the lock (requirements.lock), without the test tools it also pins.
RUN pip install -c requirements.lock '.[notebooks]' && mkdir -p /data

COPY notebooks ./notebooks

EXPOSE 8501 8888
CMD ["visualizer", "studio", "--port", "8501"]
