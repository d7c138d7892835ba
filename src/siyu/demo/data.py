"""The demo scenario's fixed data: a JD-style platform, its merchants, products and coupons.

Names are invented; prices, rates and categories are typical of 京喜-style group-buy listings.
Money is fen, rates basis points.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DemoProduct:
    title: str
    category: str
    product_line: str
    list_price_fen: int
    promo_price_fen: int
    stock: int
    commission_rate_bp: int
    description: str
    fixed_commission_fen: int | None = None
    # None = left pending for the reviewer; "" = approved; text = rejected with that reason.
    review: str | None = ""
    rank_weight: int = 0


@dataclass(frozen=True)
class DemoCoupon:
    name: str
    face_value_fen: int
    threshold_fen: int
    total_quantity: int
    per_user_limit: int
    valid_days: int
    product_title: str | None = None


@dataclass(frozen=True)
class DemoMerchant:
    name: str
    contact_name: str
    contact_phone: str
    username: str
    products: list[DemoProduct] = field(default_factory=list)
    coupons: list[DemoCoupon] = field(default_factory=list)


MERCHANTS: list[DemoMerchant] = [
    DemoMerchant(
        name="行者箱包旗舰店",
        contact_name="陈经理",
        contact_phone="13900001001",
        username="xingzhe",
        products=[
            DemoProduct(
                "行者 20寸万向轮拉杆箱 登机箱",
                "箱包",
                "京喜拼购",
                39900,
                12900,
                800,
                1500,
                "PC 材质，静音万向轮，TSA 海关锁，双十一活动款。",
                rank_weight=95,
            ),
            DemoProduct(
                "行者 24寸铝框拉杆箱 托运箱",
                "箱包",
                "品牌特卖",
                59900,
                25900,
                300,
                1200,
                "铝框加固，耐摔防刮，3 年质保。",
                rank_weight=80,
            ),
            DemoProduct(
                "行者 双肩电脑包 15.6寸",
                "箱包",
                "9.9包邮",
                19900,
                6900,
                1200,
                2000,
                "防泼水面料，USB 充电口。",
                rank_weight=60,
            ),
            DemoProduct(
                "行者 旅行收纳袋 六件套",
                "箱包",
                "9.9包邮",
                4900,
                990,
                5000,
                3000,
                "衣物分类收纳，出差旅行必备。",
                fixed_commission_fen=150,
                rank_weight=70,
            ),
        ],
        coupons=[
            DemoCoupon("拉杆箱满99减20", 2000, 9900, 2000, 1, 30, "行者 20寸万向轮拉杆箱 登机箱"),
            DemoCoupon("店铺满199减40", 4000, 19900, 500, 1, 30),
        ],
    ),
    DemoMerchant(
        name="鲜丰果园生鲜",
        contact_name="刘老板",
        contact_phone="13900001002",
        username="xianfeng",
        products=[
            DemoProduct(
                "赣南脐橙 5斤装 果径75-80mm",
                "生鲜水果",
                "京喜拼购",
                5990,
                2990,
                3000,
                800,
                "江西赣州产地直发，坏果包赔。",
                rank_weight=99,
            ),
            DemoProduct(
                "烟台红富士苹果 10斤 净重",
                "生鲜水果",
                "京喜拼购",
                7990,
                3980,
                2000,
                600,
                "山东烟台栖霞，脆甜多汁。",
                rank_weight=90,
            ),
            DemoProduct(
                "四川丑橘 3斤 现摘现发",
                "生鲜水果",
                "9.9包邮",
                2990,
                990,
                4000,
                1000,
                "不打蜡不催熟。",
                rank_weight=75,
            ),
            DemoProduct(
                "海南金钻凤梨 2个装",
                "生鲜水果",
                "品牌特卖",
                4990,
                2490,
                1000,
                800,
                "免削皮，甜度高。",
                review=None,
            ),
        ],
        coupons=[DemoCoupon("生鲜满39减5", 500, 3900, 5000, 2, 14)],
    ),
    DemoMerchant(
        name="云朵家居日用",
        contact_name="赵店长",
        contact_phone="13900001003",
        username="yunduo",
        products=[
            DemoProduct(
                "云朵 抽纸 3层120抽 24包整箱",
                "日用百货",
                "京喜拼购",
                6990,
                3990,
                6000,
                500,
                "原生木浆，母婴可用。",
                rank_weight=97,
            ),
            DemoProduct(
                "云朵 洗衣凝珠 52颗",
                "日用百货",
                "品牌特卖",
                5990,
                2990,
                3000,
                800,
                "三合一，除菌去渍留香。",
                rank_weight=85,
            ),
            DemoProduct(
                "云朵 厨房湿巾 80抽×3包",
                "日用百货",
                "9.9包邮",
                2990,
                990,
                8000,
                1500,
                "去油污，一擦即净。",
                rank_weight=65,
            ),
            DemoProduct(
                "云朵 全网最低价 竹浆卷纸 27卷",
                "日用百货",
                "品牌特卖",
                8990,
                2990,
                1000,
                600,
                "标题含绝对化用语。",
                review="标题含“全网最低价”，违反《广告法》第九条，请修改后重新提交。",
            ),
        ],
        coupons=[DemoCoupon("日用满49减8", 800, 4900, 3000, 1, 30)],
    ),
    DemoMerchant(
        name="暖暖厨房电器",
        contact_name="孙总",
        contact_phone="13900001004",
        username="nuannuan",
        products=[
            DemoProduct(
                "暖暖 多功能电煮锅 1.8L",
                "家用电器",
                "京喜拼购",
                15900,
                6900,
                1500,
                1000,
                "宿舍小电锅，煮面火锅一锅多用。",
                rank_weight=88,
            ),
            DemoProduct(
                "暖暖 空气炸锅 4.5L 可视窗",
                "家用电器",
                "品牌特卖",
                39900,
                16900,
                600,
                800,
                "无油低脂，可视烹饪。",
                rank_weight=82,
            ),
            DemoProduct(
                "暖暖 便携榨汁杯 无线充电",
                "家用电器",
                "9.9包邮",
                9900,
                3900,
                2500,
                1200,
                "10 秒出汁，一杯多用。",
                review=None,
            ),
        ],
        coupons=[DemoCoupon("电器满159减30", 3000, 15900, 800, 1, 30)],
    ),
    DemoMerchant(
        name="百味零食铺",
        contact_name="周店主",
        contact_phone="13900001005",
        username="baiwei",
        products=[
            DemoProduct(
                "百味 每日坚果 750g/30袋",
                "休闲零食",
                "京喜拼购",
                12900,
                5990,
                3000,
                1000,
                "7 种坚果果干科学配比。",
                rank_weight=92,
            ),
            DemoProduct(
                "百味 手撕面包 1kg 整箱",
                "休闲零食",
                "9.9包邮",
                3990,
                1490,
                6000,
                1500,
                "早餐代餐，松软拉丝。",
                rank_weight=78,
            ),
            DemoProduct(
                "百味 辣条大礼包 50包",
                "休闲零食",
                "9.9包邮",
                2990,
                990,
                10000,
                2000,
                "童年味道。",
                review=None,
            ),
        ],
        coupons=[DemoCoupon("零食满29减3", 300, 2900, 10000, 3, 14)],
    ),
]

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧"
    + "田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN_NAMES = [
    "秀英",
    "桂英",
    "玉兰",
    "建华",
    "志强",
    "海燕",
    "晓东",
    "丽娟",
    "春梅",
    "国庆",
    "红梅",
    "文静",
    "子涵",
    "浩然",
    "欣怡",
    "梓萱",
    "俊杰",
    "雨桐",
    "明轩",
    "佳琪",
    "宇航",
    "思远",
    "婷婷",
    "磊",
    "静",
    "勇",
    "军",
    "敏",
    "芳",
    "娜",
]

# Cities the promoters work in: most of the network lives in tier 3–6 cities (seed 000).
REGIONS = [
    "江西省赣州市",
    "河南省周口市",
    "山东省临沂市",
    "安徽省阜阳市",
    "湖南省邵阳市",
    "四川省南充市",
    "河北省邯郸市",
    "广西壮族自治区玉林市",
    "江苏省宿迁市",
    "湖北省黄冈市",
    "北京市朝阳区",
    "广东省深圳市",
]

DEMO_PASSWORD = "siyu-demo"
