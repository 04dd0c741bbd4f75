# One image for every Python process of the stack: migrate, worker, studio, jupyter.
FROM python:3.11.7-slim

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
