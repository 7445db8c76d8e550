from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from django.apps import apps

        from registry.site import site_row_sync

        # post_migrate is sent per app with models (the portal has none): ours follows the sites app's own receiver
        # (connected before, it creates "example.com"), so settings have the last word.
        post_migrate.connect(site_row_sync, sender=apps.get_app_config("sites"), dispatch_uid="portal.site_row_sync")
