from catalog import views
from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("", views.home, name="home"),
    path("books/", views.book_list, name="book-list"),
    path("authors/<int:pk>/", views.author_detail, name="author-detail"),
    path("api/books.json", views.books_json, name="books-json"),
    path("api/stats.json", views.stats_json, name="stats-json"),
    path("admin/", admin.site.urls),
]
