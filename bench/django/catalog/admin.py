from django.contrib import admin

from .models import Author, Book, Review


class BookInline(admin.TabularInline):
    model = Book
    extra = 0
    fields = ("title", "isbn", "published", "price", "in_print")


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    list_display = ("name", "born")
    search_fields = ("name",)
    inlines = [BookInline]


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    list_display = ("title", "author", "published", "price", "in_print")
    list_filter = ("in_print", "published", "author")
    search_fields = ("title", "isbn", "author__name")
    list_select_related = ("author",)
    date_hierarchy = "published"
    list_per_page = 50


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ("book", "reviewer", "rating", "created")
    list_filter = ("rating",)
    list_select_related = ("book",)
    search_fields = ("reviewer", "text")
