from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("orchestration", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="execution",
            name="stop_mode",
            field=models.CharField(blank=True, max_length=20),
        ),
        migrations.AddField(
            model_name="noderun",
            name="stop_requested",
            field=models.CharField(blank=True, max_length=20),
        ),
    ]
