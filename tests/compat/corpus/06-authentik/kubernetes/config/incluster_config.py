"""Stand-in for kubernetes.config.incluster_config: the one name the config imports (its value)."""

SERVICE_HOST_ENV_NAME = "KUBERNETES_SERVICE_HOST"
