from django.urls import path

from api.v1 import views

app_name = "v1"

urlpatterns = [
    path("models", views.ModelListView.as_view(), name="model-list"),
    path("models/<str:namespace>/<str:name>", views.ModelDetailView.as_view(), name="model-detail"),
]
