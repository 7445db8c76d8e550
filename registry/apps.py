from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Registry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Features that react to new commits register their listeners (registry.hooks) on import.
        from registry import generation
        from registry.services import discussion_mail, inference, likes, validation, webhooks  # noqa: F401

        # Memoised download-path reads (registry.generation) are invalidated by watching every write.
        generation.install()


class VerifyToolConfig(RegistryConfig):
    """The registry app for the offline tools (portal.settings_verify): its commands, without the hooks that
    react to commits (they need the hub's database and queues)."""

    default = False

    def ready(self) -> None:
        pass
