from django.urls import path

from core import views

urlpatterns = [
    path("health/", views.health),
    path("ready/", views.ready),
    path("metrics", views.metrics),
    path("api/items/", views.items),
]
