"""The "Support" group: what support staff who are not superusers may see and do in the admin.

Permissions are normally created after ``migrate`` (post_migrate), so a fresh database
does not have them yet when this runs: they are created here first, from the migration
state, and the post_migrate pass later finds them already there.
"""

from __future__ import annotations

from django.db import migrations

GROUP = "Support"
PERMISSIONS = [
    ("accounts", "view_user"),
    ("accounts", "view_statushistory"),
    ("accounts", "view_socialidentity"),
    ("accounts", "block_user"),
    ("accounts", "signout_user"),
    ("accounts", "set_level"),
    ("otp", "view_otp"),
    ("sessions_log", "view_loginstate"),
]


def create_support_group(apps, schema_editor) -> None:
    from django.contrib.auth.management import create_permissions
    from django.contrib.contenttypes.management import create_contenttypes

    alias = schema_editor.connection.alias
    for label in sorted({app for app, _ in PERMISSIONS}):
        app_config = apps.get_app_config(label)
        # Both helpers skip app configs without a models module; historical ones have none.
        app_config.models_module = True
        create_contenttypes(app_config, verbosity=0, using=alias, apps=apps)
        create_permissions(app_config, verbosity=0, using=alias, apps=apps)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(alias).get_or_create(name=GROUP)
    for app_label, codename in PERMISSIONS:
        permission = Permission.objects.using(alias).get(content_type__app_label=app_label, codename=codename)
        group.permissions.add(permission)


def delete_support_group(apps, schema_editor) -> None:
    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_user_support_permissions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("otp", "0001_initial"),
        ("sessions_log", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_support_group, delete_support_group)]
