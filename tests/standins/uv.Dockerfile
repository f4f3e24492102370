FROM scratch
COPY uv uvx /
ENTRYPOINT ["/uv"]
