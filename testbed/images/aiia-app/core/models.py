from django.db import models


class Item(models.Model):
    title = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)


class Lesson(models.Model):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="lessons")
    body = models.TextField(default="")
