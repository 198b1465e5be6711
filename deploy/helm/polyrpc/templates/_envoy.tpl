{{/*
The Envoy sidecar's configuration, one per app. Every address, port, path and limit comes from
`.Values.envoy` and `.Values.loadBalancing`, so the same template renders for Kubernetes (the
defaults) and for a local run (infra/envoy/local-values.yaml).

Files the ConfigMap holds, all mounted at envoy.configMountPath:
  envoy.yaml            the bootstrap (`envoy -c <configMountPath>/envoy.yaml`)
  sds-server-cert.yaml  SDS resource: the serving certificate and key from envoy.tls.directory
  sds-ca.yaml           SDS resource: the CA that upstream user-service Envoys must chain to
Envoy watches envoy.tls.directory (Kubernetes swaps a Secret's files atomically there), so a
rotated certificate is served without a restart.
*/}}

{{/* Per-app facts: the values block, the health service name, the stat prefix. */}}
{{- define "polyrpc.envoy.appValues" -}}
{{- if eq .app "user-service" -}}
{{- toYaml .root.Values.envoy.userService -}}
{{- else if eq .app "chat" -}}
{{- toYaml .root.Values.envoy.chat -}}
{{- else -}}
{{- fail (printf "unknown app %q (user-service | chat)" .app) -}}
{{- end -}}
{{- end -}}

{{- define "polyrpc.envoy.healthServiceName" -}}
{{- if eq . "user-service" -}}user.UserService{{- else -}}chat.v1.ChatService{{- end -}}
{{- end -}}

{{/* The headless Service the chat's outbound cluster resolves, fully qualified. */}}
{{- define "polyrpc.envoy.userServiceHost" -}}
{{- $lb := .Values.loadBalancing -}}
{{- $name := $lb.headlessService | default (include "polyrpc.headlessName" (dict "root" . "app" "user-service")) -}}
{{- if contains "." $name -}}{{ $name }}{{- else -}}{{ printf "%s.%s.svc.%s" $name .Release.Namespace $lb.clusterDomain }}{{- end -}}
{{- end -}}

{{/* An SDS source for a file-based secret: the rendered resource file, reloaded when the TLS directory changes. */}}
{{- define "polyrpc.envoy.sdsConfig" -}}
sds_config:
  resource_api_version: V3
  path_config_source:
    path: {{ printf "%s/%s" .root.Values.envoy.configMountPath .file | quote }}
    watched_directory:
      path: {{ .root.Values.envoy.tls.directory | quote }}
{{- end -}}

{{/* Shared TLS parameters: TLS 1.2+ with ECDHE+AEAD suites for 1.2. */}}
{{- define "polyrpc.envoy.tlsParams" -}}
{{- $tls := .Values.envoy.tls -}}
tls_minimum_protocol_version: {{ $tls.minVersion }}
tls_maximum_protocol_version: {{ $tls.maxVersion }}
cipher_suites:
{{- range $tls.cipherSuites }}
  - {{ . | quote }}
{{- end }}
ecdh_curves:
{{- range $tls.ecdhCurves }}
  - {{ . | quote }}
{{- end }}
{{- end -}}

{{/* HTTP/2 options for Envoy's upstream connections (h2c to the app, h2 to user-service Envoys). */}}
{{- define "polyrpc.envoy.upstreamHttp2" -}}
envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
  "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
  explicit_http_config:
    http2_protocol_options:
      max_concurrent_streams: {{ .Values.envoy.limits.maxConcurrentStreams }}
      initial_stream_window_size: {{ .Values.envoy.limits.initialStreamWindowSize | int64 }}
      initial_connection_window_size: {{ .Values.envoy.limits.initialConnectionWindowSize | int64 }}
      connection_keepalive:
        interval: {{ .Values.envoy.keepalive.interval }}
        timeout: {{ .Values.envoy.keepalive.timeout }}
{{- end -}}

{{/* Active gRPC health checks (grpc.health.v1.Health/Check for `service`). */}}
{{- define "polyrpc.envoy.healthChecks" -}}
- timeout: {{ .hc.timeout }}
  interval: {{ .hc.interval }}
  unhealthy_threshold: {{ .hc.unhealthyThreshold }}
  healthy_threshold: {{ .hc.healthyThreshold }}
  no_traffic_interval: {{ .hc.interval }}
  always_log_health_check_failures: true
  grpc_health_check:
    service_name: {{ .service | quote }}
{{- end -}}

{{- define "polyrpc.envoy.outlierDetection" -}}
{{- $od := .Values.loadBalancing.outlierDetection -}}
consecutive_5xx: {{ $od.consecutive5xx }}
consecutive_gateway_failure: {{ $od.consecutiveGatewayFailure }}
enforcing_consecutive_gateway_failure: 100
interval: {{ $od.interval }}
base_ejection_time: {{ $od.baseEjectionTime }}
max_ejection_percent: {{ $od.maxEjectionPercent }}
{{- end -}}

{{/* A list of {address, port} as lb_endpoints. */}}
{{- define "polyrpc.envoy.lbEndpoints" -}}
{{- range . }}
- endpoint:
    address:
      socket_address:
        address: {{ .address | quote }}
        port_value: {{ .port | int }}
{{- end }}
{{- end -}}

{{/* The HTTP connection manager settings both listeners share. */}}
{{- define "polyrpc.envoy.hcmCommon" -}}
{{- $e := .Values.envoy -}}
codec_type: AUTO
# Paths reach the app as sent: `//` is not merged into a routable path and an encoded `/` is refused.
normalize_path: true
merge_slashes: false
path_with_escaped_slashes_action: REJECT_REQUEST
# No per-stream idle cut for a quiet chat room shorter than this (Envoy's default is 5 min).
stream_idle_timeout: {{ $e.timeouts.streamIdle }}
request_headers_timeout: {{ $e.timeouts.requestHeaders }}
drain_timeout: {{ $e.timeouts.drain }}
max_request_headers_kb: {{ $e.limits.maxRequestHeadersKb }}
common_http_protocol_options:
  idle_timeout: {{ $e.timeouts.connectionIdle }}
  max_headers_count: {{ $e.limits.maxRequestHeadersCount }}
http2_protocol_options:
  max_concurrent_streams: {{ $e.limits.maxConcurrentStreams }}
  initial_stream_window_size: {{ $e.limits.initialStreamWindowSize | int64 }}
  initial_connection_window_size: {{ $e.limits.initialConnectionWindowSize | int64 }}
  connection_keepalive:
    interval: {{ $e.keepalive.interval }}
    timeout: {{ $e.keepalive.timeout }}
{{- end -}}

{{/* Per-method gRPC stats (envoy.filters.http.grpc_stats), for every listener. */}}
{{- define "polyrpc.envoy.grpcStatsFilter" -}}
- name: envoy.filters.http.grpc_stats
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig
    stats_for_all_methods: true
    enable_upstream_stats: true
    emit_filter_state: true
{{- end -}}

{{/*
The user service's routes: GetUser and ListUsers are idempotent reads, retried on UNAVAILABLE on
another host; writes (CreateUser, CreateUsers, UpdateUser, DeleteUser), Chat and anything else are
never retried. timeout 0s everywhere: no route timeout, so streams live as long as the caller wants.
*/}}
{{- define "polyrpc.envoy.userServiceRoutes" -}}
{{- $e := .root.Values.envoy -}}
{{- $lb := .root.Values.loadBalancing -}}
{{- $cluster := .cluster -}}
{{- range (list "GetUser" "ListUsers") }}
- match:
    path: /user.UserService/{{ . }}
    grpc: {}
  route:
    cluster: {{ $cluster }}
    timeout: {{ $e.timeouts.route }}
    retry_policy:
      retry_on: {{ $lb.retry.retryOn | quote }}
      num_retries: {{ $lb.retry.numRetries }}
      {{- if ne (toString $lb.retry.perTryTimeout) "0s" }}
      per_try_timeout: {{ $lb.retry.perTryTimeout }}
      {{- end }}
      retry_back_off:
        base_interval: {{ $lb.retry.baseInterval }}
        max_interval: {{ $lb.retry.maxInterval }}
      retry_host_predicate:
        - name: envoy.retry_host_predicates.previous_hosts
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate
      host_selection_retry_max_attempts: 3
{{- end }}
- match:
    prefix: /
  route:
    cluster: {{ $cluster }}
    timeout: {{ $e.timeouts.route }}
{{- end -}}

{{/*
The bootstrap for one app: include "polyrpc.envoy.config" (dict "root" $ "app" "user-service").
*/}}
{{- define "polyrpc.envoy.config" -}}
{{- $root := .root -}}
{{- $app := .app -}}
{{- $e := $root.Values.envoy -}}
{{- $lb := $root.Values.loadBalancing -}}
{{- $appValues := include "polyrpc.envoy.appValues" . | fromYaml -}}
{{- $isChat := eq $app "chat" -}}
{{- $outbound := and $isChat (eq $lb.mode "sidecar") -}}
{{- $appEndpoints := $appValues.endpoints | default (list (dict "address" $appValues.address "port" $appValues.port)) -}}
{{- $listenPort := $appValues.listenPort | default $e.port -}}
{{- $adminPort := $appValues.adminPort | default $e.admin.port -}}
{{- $service := include "polyrpc.envoy.healthServiceName" $app -}}
{{- if not (has $lb.mode (list "sidecar" "headless")) -}}
{{- fail (printf "loadBalancing.mode must be sidecar or headless, not %q" $lb.mode) -}}
{{- end -}}
# Envoy sidecar for {{ $app }}: TLS on :{{ $listenPort }} -> the app's plaintext port{{ if $outbound }}; outbound
# listener {{ $lb.outbound.address }}:{{ $lb.outbound.port }} balancing each RPC to the user service{{ end }}.
node:
  id: {{ printf "%s-%s" (include "polyrpc.fullname" $root) $app | quote }}
  cluster: {{ printf "%s-%s" (include "polyrpc.fullname" $root) $app | quote }}
admin:
  address:
    socket_address:
      address: {{ $e.admin.address | quote }}
      port_value: {{ $adminPort | int }}
overload_manager:
  resource_monitors:
    - name: envoy.resource_monitors.global_downstream_max_connections
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig
        max_active_downstream_connections: 10000
static_resources:
  listeners:
    - name: inbound_tls
      # INBOUND: what the preStop's /drain_listeners?inboundonly drains (clients told to go elsewhere).
      traffic_direction: INBOUND
      address:
        socket_address:
          address: {{ $e.listenAddress | quote }}
          port_value: {{ $listenPort | int }}
      per_connection_buffer_limit_bytes: {{ $e.limits.perConnectionBufferLimitBytes | int64 }}
      filter_chains:
        - transport_socket:
            name: envoy.transport_sockets.tls
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
              common_tls_context:
                tls_params:
                  {{- include "polyrpc.envoy.tlsParams" $root | nindent 18 }}
                alpn_protocols:
                  - h2
                  {{- if $isChat }}
                  # gRPC-Web and Connect from browsers and curl also come over HTTP/1.1.
                  - http/1.1
                  {{- end }}
                tls_certificate_sds_secret_configs:
                  - name: server_cert
                    {{- include "polyrpc.envoy.sdsConfig" (dict "root" $root "file" "sds-server-cert.yaml") | nindent 20 }}
          filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: inbound
                use_remote_address: true
                {{- include "polyrpc.envoy.hcmCommon" $root | nindent 16 }}
                route_config:
                  name: inbound
                  virtual_hosts:
                    - name: {{ $app | quote }}
                      domains: ["*"]
                      routes:
                        {{- if $isChat }}
                        # Every call goes to the app in this pod. timeout 0s: no route timeout, so
                        # server, client and bidi streams live as long as the caller wants.
                        - match:
                            prefix: /
                          route:
                            cluster: local_app
                            timeout: {{ $e.timeouts.route }}
                        {{- else }}
                        {{- include "polyrpc.envoy.userServiceRoutes" (dict "root" $root "cluster" "local_app") | trim | nindent 24 }}
                        {{- end }}
                      {{- if and $isChat $appValues.corsAllowOrigins }}
                      typed_per_filter_config:
                        envoy.filters.http.cors:
                          "@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy
                          allow_origin_string_match:
                            {{- range $appValues.corsAllowOrigins }}
                            - exact: {{ . | quote }}
                            {{- end }}
                          allow_methods: GET, POST, OPTIONS
                          allow_headers: content-type, authorization, traceparent, tracestate, x-grpc-web, x-user-agent, grpc-timeout, connect-protocol-version, connect-timeout-ms
                          expose_headers: grpc-status, grpc-message, grpc-status-details-bin
                          max_age: "86400"
                      {{- end }}
                http_filters:
                  {{- if $isChat }}
                  # gRPC-Web from browsers becomes gRPC to the app; Connect passes through unchanged.
                  - name: envoy.filters.http.grpc_web
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb
                  # Answers CORS only for envoy.chat.corsAllowOrigins; otherwise the chat app does.
                  - name: envoy.filters.http.cors
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors
                  {{- end }}
                  {{- include "polyrpc.envoy.grpcStatsFilter" $root | nindent 18 }}
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
    {{- if $outbound }}
    # The chat's calls to the user service: plaintext h2c on the pod's loopback, balanced per RPC.
    - name: outbound_user_service
      # OUTBOUND: stays up through the drain, so the leaving chat still reaches the user service.
      traffic_direction: OUTBOUND
      address:
        socket_address:
          address: {{ $lb.outbound.address | quote }}
          port_value: {{ $lb.outbound.port | int }}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: outbound_user_service
                {{- include "polyrpc.envoy.hcmCommon" $root | nindent 16 }}
                route_config:
                  name: outbound_user_service
                  virtual_hosts:
                    - name: user_service
                      domains: ["*"]
                      routes:
                        {{- include "polyrpc.envoy.userServiceRoutes" (dict "root" $root "cluster" "user_service") | trim | nindent 24 }}
                http_filters:
                  {{- include "polyrpc.envoy.grpcStatsFilter" $root | nindent 18 }}
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
    {{- end }}
  clusters:
    # The app in this pod (several local replicas in a local run), plaintext HTTP/2.
    - name: local_app
      type: STATIC
      connect_timeout: {{ $e.timeouts.upstreamConnect }}
      lb_policy: {{ $lb.policy }}
      per_connection_buffer_limit_bytes: {{ $e.limits.perConnectionBufferLimitBytes | int64 }}
      typed_extension_protocol_options:
        {{- include "polyrpc.envoy.upstreamHttp2" $root | nindent 8 }}
      load_assignment:
        cluster_name: local_app
        endpoints:
          - lb_endpoints:
              {{- include "polyrpc.envoy.lbEndpoints" $appEndpoints | trim | nindent 14 }}
      health_checks:
        {{- include "polyrpc.envoy.healthChecks" (dict "hc" $e.healthCheck "service" $service) | nindent 8 }}
      outlier_detection:
        {{- include "polyrpc.envoy.outlierDetection" $root | nindent 8 }}
    {{- if $outbound }}
    # The user service's pods, at their Envoys' TLS port: per-RPC balancing with gRPC health
    # checks and outlier detection. DNS gives one address per ready pod (headless Service).
    - name: user_service
      {{- if $lb.endpoints }}
      type: STATIC
      {{- else }}
      type: STRICT_DNS
      dns_lookup_family: V4_PREFERRED
      dns_refresh_rate: {{ $lb.dnsRefreshRate }}
      {{- end }}
      connect_timeout: {{ $e.timeouts.upstreamConnect }}
      lb_policy: {{ $lb.policy }}
      typed_extension_protocol_options:
        {{- include "polyrpc.envoy.upstreamHttp2" $root | nindent 8 }}
      load_assignment:
        cluster_name: user_service
        endpoints:
          - lb_endpoints:
              {{- $host := include "polyrpc.envoy.userServiceHost" $root }}
              {{- include "polyrpc.envoy.lbEndpoints" ($lb.endpoints | default (list (dict "address" $host "port" $lb.port))) | trim | nindent 14 }}
      health_checks:
        {{- include "polyrpc.envoy.healthChecks" (dict "hc" $lb.healthCheck "service" $lb.healthCheck.serviceName) | nindent 8 }}
      outlier_detection:
        {{- include "polyrpc.envoy.outlierDetection" $root | nindent 8 }}
      {{- if $lb.upstreamTls.enabled }}
      {{- $sni := $lb.upstreamTls.sni | default (include "polyrpc.envoy.userServiceHost" $root) }}
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
          sni: {{ $sni | quote }}
          common_tls_context:
            tls_params:
              {{- include "polyrpc.envoy.tlsParams" $root | nindent 14 }}
            alpn_protocols:
              - h2
            combined_validation_context:
              # The peer must chain to the CA and name the Service it was dialled as.
              default_validation_context:
                match_typed_subject_alt_names:
                  - san_type: DNS
                    matcher:
                      exact: {{ $sni | quote }}
              validation_context_sds_secret_config:
                name: ca
                {{- include "polyrpc.envoy.sdsConfig" (dict "root" $root "file" "sds-ca.yaml") | nindent 16 }}
      {{- end }}
    {{- end }}
{{- end -}}

{{/* SDS resource files (DiscoveryResponse) for the certificate and the CA. */}}
{{- define "polyrpc.envoy.sdsServerCert" -}}
{{- $tls := .Values.envoy.tls -}}
resources:
  - "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
    name: server_cert
    tls_certificate:
      certificate_chain:
        filename: {{ printf "%s/%s" $tls.directory $tls.certFile | quote }}
      private_key:
        filename: {{ printf "%s/%s" $tls.directory $tls.keyFile | quote }}
      watched_directory:
        path: {{ $tls.directory | quote }}
{{- end -}}

{{- define "polyrpc.envoy.sdsCa" -}}
{{- $tls := .Values.envoy.tls -}}
resources:
  - "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
    name: ca
    validation_context:
      trusted_ca:
        filename: {{ printf "%s/%s" $tls.directory $tls.caFile | quote }}
      watched_directory:
        path: {{ $tls.directory | quote }}
{{- end -}}
