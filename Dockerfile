# Two images from one build: `docker build --target manager .` and `docker build --target mosaic-proxy .`
# (make docker-build builds both). Both are static binaries on an empty base, running as a non-root user.
FROM golang:1.26 AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags "-s -w" -o /out/manager ./cmd/manager && \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags "-s -w" -o /out/mosaic-proxy ./cmd/mosaic-proxy

FROM scratch AS mosaic-proxy
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build /out/mosaic-proxy /mosaic-proxy
USER 65532:65532
ENTRYPOINT ["/mosaic-proxy"]

FROM scratch AS manager
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build /out/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
