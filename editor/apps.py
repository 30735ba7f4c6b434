from django.apps import AppConfig


class EditorConfig(AppConfig):
    name = "editor"
    verbose_name = "Fenceline editor"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the deployment checks)
