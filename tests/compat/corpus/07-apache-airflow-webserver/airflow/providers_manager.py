"""Stand-in for airflow.providers_manager: what the on_starting hook calls (nothing to load here)."""


class ProvidersManager:
    def initialize_providers_configuration(self):
        pass

    @property
    def connection_form_widgets(self):
        return {}
