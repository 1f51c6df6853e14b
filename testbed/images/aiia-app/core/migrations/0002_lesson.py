import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Lesson",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("body", models.TextField(default="")),
                ("item", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="lessons", to="core.item")),
            ],
        ),
    ]
