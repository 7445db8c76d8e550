"""Ship the common open licenses (registry.licenses_common) so a card's `license: apache-2.0` names a license the
hub knows. Idempotent, and an existing row (an admin's edit) is never changed."""

from django.db import migrations


def load(apps, schema_editor):
    from registry.licenses_common import COMMON_LICENSES, license_text

    License = apps.get_model("registry", "License")
    for slug, name, url in COMMON_LICENSES:
        License.objects.get_or_create(slug=slug, defaults={"name": name, "url": url, "text": license_text(name, url)})


class Migration(migrations.Migration):
    dependencies = [("registry", "0021_release_license_follow")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
